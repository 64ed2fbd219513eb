"""tracemalloc: a snapshot diff attributes a known allocation to its source line, and traced current/peak memory rise and fall with it.

Expected: after allocating a 4 MiB bytearray on one line,
- Snapshot.compare_to(..., "lineno") lists that file and line first, with
  a size difference of at least 4 MiB;
- get_traced_memory() "current" has risen by at least 4 MiB, and "peak"
  is at least "current";
- after del, "current" falls back by at least 4 MiB while "peak" keeps
  the high-water mark, until reset_peak() (new in 3.9) lowers it to the
  current level.
tracemalloc records the sizes requested by Python code, so this holds
under every PYTHONMALLOC setting, including the debug hooks.

Docs: https://docs.python.org/3/library/tracemalloc.html (start,
take_snapshot, Snapshot.compare_to, Snapshot.filter_traces, Filter,
get_traced_memory, reset_peak).
"""
import linecache
import sys
import tracemalloc

SIZE = 4 * 1024 * 1024
MIB = 1024 * 1024

tracemalloc.start()
# Only this file's allocations matter; the filter hides the interpreter's own.
only_here = [tracemalloc.Filter(True, __file__)]

before = tracemalloc.take_snapshot().filter_traces(only_here)
current0, _ = tracemalloc.get_traced_memory()

# The allocation that the diff must point at:
data = bytearray(SIZE)

after = tracemalloc.take_snapshot().filter_traces(only_here)
current1, peak1 = tracemalloc.get_traced_memory()

top = after.compare_to(before, "lineno")[0]
frame = top.traceback[0]
source = linecache.getline(frame.filename, frame.lineno).strip()
print("top of diff:        line %d: %s  (%+.2f MiB)" % (frame.lineno, source, top.size_diff / MIB))
assert frame.filename == __file__, "expected this file, got %s" % frame.filename
assert source.startswith("data = bytearray(SIZE)"), "diff points at the wrong line: %r" % source
assert top.size_diff >= SIZE, "diff should show >= %d bytes, got %d" % (SIZE, top.size_diff)

print("after allocating:   current %.2f -> %.2f MiB, peak %.2f MiB" % (current0 / MIB, current1 / MIB, peak1 / MIB))
assert current1 - current0 >= SIZE, "current should rise by the allocation"
assert peak1 >= current1, "peak is never below current"

# Measure right around the del, so that the snapshots and strings made
# above do not blur the drop.
current_pre, _ = tracemalloc.get_traced_memory()
del data
current2, peak2 = tracemalloc.get_traced_memory()
print("after del:          current %.2f -> %.2f MiB, peak %.2f MiB" % (current_pre / MIB, current2 / MIB, peak2 / MIB))
assert current_pre - current2 >= SIZE, "current should fall by the freed allocation"
assert peak2 >= current1, "peak should keep the high-water mark"

tracemalloc.reset_peak()
current3, peak3 = tracemalloc.get_traced_memory()
print("after reset_peak(): current %.2f MiB, peak %.2f MiB" % (current3 / MIB, peak3 / MIB))
assert peak3 < current2 + SIZE // 2, "reset_peak() should drop the peak to about current"

tracemalloc.stop()
sys.exit(0)
