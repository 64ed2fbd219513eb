# pymaccounter: expect = leak
# pymaccounter: hunt-leaks = 3:3
"""A deliberate descriptor leak: a file opened on every run and never closed keeps one more descriptor open each time.

Expected: each time this module runs it opens its own source file with
os.open() and never closes the descriptor, as code that forgets a close()
on an error path does.
- the process's open descriptors (the entries of /proc/self/fd) rise by
  exactly one;
- after a full gc.collect() the descriptor is still open (os.fstat()
  works on it) and the count stays one higher: a bare descriptor is an
  int, and no finalizer will ever close it. (A file object would be closed
  by its finalizer once unreachable, with a ResourceWarning, which is why
  leaks of file objects often go unnoticed until a long-running process
  runs out of descriptors.)
As a plain script this passes: one run leaks one descriptor, and the
process exit closes it. Run many times in one interpreter
(`--hunt-leaks`, like CPython's `python -m test -R 3:3`), the descriptor
count grows on every run: under CPython's rule a descriptor count that
changes at all is a leak, which the header above declares (`expect = leak`).

Skips (exit 77) where /proc/self/fd does not exist (not Linux).

Docs: https://docs.python.org/3/library/os.html#os.open,
https://docs.python.org/3/library/os.html#os.fstat,
https://docs.python.org/3/library/devmode.html (ResourceWarning for
unclosed files); proc(5) for /proc/[pid]/fd.
"""
import gc
import os
import sys

SKIP = 77
FD_DIR = "/proc/self/fd"

if not os.path.isdir(FD_DIR):
    print("SKIP: %s does not exist here, cannot count open descriptors" % FD_DIR)
    sys.exit(SKIP)


def open_descriptors():
    # listdir itself holds one descriptor while it reads, the same one every call.
    return len(os.listdir(FD_DIR))


gc.collect()
before = open_descriptors()
leaked = os.open(__file__, os.O_RDONLY)   # the bug: no os.close(leaked) anywhere
during = open_descriptors()
print("open descriptors: %d before, %d after os.open() (descriptor %d)" % (before, during, leaked))
assert during == before + 1, "one os.open() should add one descriptor"

gc.collect()
after = open_descriptors()
size = os.fstat(leaked).st_size
print("after gc.collect(): %d open, descriptor %d still reads a file of %d bytes" % (after, leaked, size))
assert after == before + 1, "nothing closes a bare descriptor: it stays open"
assert size == os.path.getsize(__file__), "the leaked descriptor is this very file"
sys.exit(0)
