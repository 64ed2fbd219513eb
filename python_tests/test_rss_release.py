"""RSS: a large, touched allocation raises the process's resident memory, and freeing it gives the memory back to the OS.

Expected: the resident set size read from /proc/self/statm (resident pages
times the page size) rises by at least 90% of a 200 MiB bytearray once
every page of it has been written, and after del falls back to within
10% of the allocation's size above where it started. Such a large block
is far above pymalloc's 512-byte limit and above glibc's mmap threshold,
so under malloc, pymalloc and their debug hooks it comes from mmap and
munmap returns it to the kernel at the del itself. mimalloc (3.13+,
PYTHONMALLOC=mimalloc or mimalloc_debug) keeps a freed block's memory for
reuse and purges it to the kernel only after a delay, during later
allocations: under it the module allocates and frees a 32 MiB block every
50 ms until RSS falls, and expects that within PURGE_WAIT seconds (it
takes a few tenths of a second). 200 MiB fits well inside a 1 GiB
container limit, even if the debug hooks briefly add a few bytes to it.

Skips (exit 77) only where /proc/self/statm does not exist (not Linux).

Docs: https://docs.python.org/3/c-api/memory.html (overview: large
requests go to the C library allocator), https://docs.python.org/3/library/os.html#os.sysconf,
https://docs.python.org/3/library/functions.html#func-bytearray;
proc(5) for /proc/[pid]/statm and mallopt(3) for M_MMAP_THRESHOLD.
"""
import os
import sys
import time

SKIP = 77
MIB = 1024 * 1024
SIZE = 200 * MIB
PAGE = os.sysconf("SC_PAGE_SIZE")
STATM = "/proc/self/statm"
PURGE_WAIT = 5.0    # seconds mimalloc gets to give the memory back


def rss():
    """Resident set size in bytes: the second field of statm, in pages."""
    with open(STATM) as f:
        return int(f.read().split()[1]) * PAGE


if not os.path.exists(STATM):
    print("SKIP: %s is not available, cannot read the resident set size" % STATM)
    sys.exit(SKIP)

before = rss()
print("RSS at start:            %7.1f MiB" % (before / MIB))

block = bytearray(SIZE)
# Write one byte per page so every page is really backed by memory, whether
# or not the allocator already zeroed (and so touched) it.
for offset in range(0, SIZE, PAGE):
    block[offset] = 1
held = rss()
print("RSS with 200 MiB held:   %7.1f MiB (%+.1f MiB)" % (held / MIB, (held - before) / MIB))
assert held - before >= SIZE * 0.9, \
    "RSS should rise by about %d MiB, rose by %.1f MiB" % (SIZE // MIB, (held - before) / MIB)

del block
after = rss()
print("RSS after del:           %7.1f MiB (%+.1f MiB from start)" % (after / MIB, (after - before) / MIB))

requested = "" if sys.flags.ignore_environment else os.environ.get("PYTHONMALLOC", "")
if requested.startswith("mimalloc") and after - before > SIZE * 0.1:
    # mimalloc purges freed memory after a delay, when the allocator runs again.
    started = time.monotonic()
    while after - before > SIZE * 0.1 and time.monotonic() - started < PURGE_WAIT:
        time.sleep(0.05)
        scratch = bytearray(32 * MIB)
        del scratch
        after = rss()
    print("RSS after mimalloc purged: %5.1f MiB (%+.1f MiB from start, %.2f s after the del)"
          % (after / MIB, (after - before) / MIB, time.monotonic() - started))
assert after - before <= SIZE * 0.1, \
    "freed memory should go back to the OS, RSS is still %.1f MiB above start" % ((after - before) / MIB)
sys.exit(0)
