"""numpy: an array's data buffer is traced by tracemalloc in numpy's own domain, shared by views, and freed (back to the OS) at the last del.

Expected, for a 64 MiB float64 array made with np.empty (a C call, so the
trace's innermost frame is this file's line) and then filled (which writes
every page):
- a snapshot filtered to numpy's tracemalloc domain
  (numpy.lib.tracemalloc_domain, 389047) holds one more trace of at least
  64 MiB, attributed to the line of this file that made the array: numpy
  reports its data allocations with PyTraceMalloc_Track, in a domain of its
  own, apart from the Python objects (domain 0), which the array's header is;
- RSS rises by at least 90% of 64 MiB;
- a view (a[::2]) adds no data buffer (numpy's domain grows by nothing) and
  holds the array's buffer alive: after del of the array the 64 MiB are
  still traced, and view.base is what owns them;
- after del of the view too, numpy's domain is back where it started and
  RSS falls to within 10% of 64 MiB of its start: so large a buffer comes
  from mmap in glibc's malloc (above its 32 MiB highest threshold) and
  munmap gives it back at once;
- tracemalloc's peak keeps the 64 MiB high-water mark.
numpy allocates data with the C library's malloc, not through PyMem, so this
holds under every PYTHONMALLOC setting, and on every supported version (3.9
gets numpy 2.0, newer Pythons the newest numpy).

Docs: https://numpy.org/doc/stable/reference/c-api/data_memory.html
(tracemalloc domain), https://numpy.org/doc/stable/user/basics.copies.html
(views and base), https://docs.python.org/3/library/tracemalloc.html
(DomainFilter, Snapshot.statistics), mallopt(3) for M_MMAP_THRESHOLD.
"""
import os
import sys
import tracemalloc

import numpy as np

MIB = 1024 * 1024
SIZE = 64 * MIB
PAGE = os.sysconf("SC_PAGE_SIZE")
STATM = "/proc/self/statm"
DOMAIN = np.lib.tracemalloc_domain
SKIP = 77


def rss():
    """Resident set size in bytes: the second field of statm, in pages."""
    with open(STATM) as f:
        return int(f.read().split()[1]) * PAGE


def numpy_traced():
    """Bytes tracemalloc holds in numpy's domain, and that snapshot's traces."""
    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.DomainFilter(True, DOMAIN)])
    return sum(trace.size for trace in snapshot.traces), snapshot


if not os.path.exists(STATM):
    print("SKIP: %s is not available, cannot read the resident set size" % STATM)
    sys.exit(SKIP)

print("numpy %s, tracemalloc domain %d" % (np.__version__, DOMAIN))
tracemalloc.start()
traced0, _ = numpy_traced()
rss0 = rss()

array = np.empty(SIZE // 8, dtype=np.float64)  # the allocation the snapshot must name
made_at = sys._getframe().f_lineno - 1
array.fill(1.0)
traced1, snapshot = numpy_traced()
rss1 = rss()
top = snapshot.statistics("lineno")[0]
frame = top.traceback[0]
print("with the array:             numpy's domain %+.1f MiB, largest at %s:%d (%.1f MiB)"
      % ((traced1 - traced0) / MIB, os.path.basename(frame.filename), frame.lineno, top.size / MIB))
print("                             RSS %+.1f MiB" % ((rss1 - rss0) / MIB))
assert traced1 - traced0 >= SIZE, "numpy's domain should hold the 64 MiB buffer"
assert top.size >= SIZE and frame.filename == __file__ and frame.lineno == made_at, \
    "the largest trace should be this file's line %d, is %s:%d" % (made_at, frame.filename, frame.lineno)
assert rss1 - rss0 >= SIZE * 0.9, "fill writes every page: RSS should rise by about 64 MiB"

view = array[::2]
traced2, _ = numpy_traced()
print("after a view of it:          numpy's domain %+d bytes (the view's base is the array: %s)"
      % (traced2 - traced1, view.base is array))
assert traced2 == traced1, "a view allocates no data buffer"
assert view.base is array

del array
traced3, _ = numpy_traced()
print("after del array (view kept): numpy's domain %+.1f MiB" % ((traced3 - traced0) / MIB))
assert traced3 - traced0 >= SIZE, "the view keeps the whole buffer alive"
assert view.base is not None and view.base.nbytes == SIZE

del view
traced4, _ = numpy_traced()
rss4 = rss()
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
print("after del view:              numpy's domain %+d bytes, RSS %+.1f MiB from start, peak %.1f MiB"
      % (traced4 - traced0, (rss4 - rss0) / MIB, peak / MIB))
assert traced4 == traced0, "the last reference gone, numpy untracks its buffer"
assert rss4 - rss0 <= SIZE * 0.1, "the freed buffer should go back to the OS"
assert peak >= SIZE, "tracemalloc's peak keeps the high-water mark"
