"""Leak hunting: comparing tracemalloc snapshots points at a growing module-level cache, and the growth scales with the number of calls.

Expected: handle_request() stores a 1 KiB result per distinct request in a
module-level dict and never evicts it (the leak). Snapshots taken after
0, CALLS and 2 * CALLS requests, compared with "lineno", put the cache's
line at the top of the diff both times; each round of CALLS requests adds
at least CALLS KiB on that line, and the memory traced on that line after
two rounds is at least twice what one round left. Each round uses new
request ids, as a real leak would.

Docs: https://docs.python.org/3/library/tracemalloc.html (take_snapshot,
Snapshot.compare_to, StatisticDiff, Snapshot.statistics, "Compute
differences" and "Get the traceback of a memory block" examples).
"""
import linecache
import sys
import tracemalloc

CALLS = 2000
RESULT_SIZE = 1024
KIB = 1024

_cache = {}


def handle_request(request_id):
    # The leak: every distinct id adds an entry that nothing ever removes.
    _cache[request_id] = bytes(RESULT_SIZE)
    return len(_cache[request_id])


def serve(first_id, count):
    for request_id in range(first_id, first_id + count):
        handle_request(request_id)


def on_this_file(snapshot):
    # Keep only this file's allocations, so tracemalloc's own and the
    # interpreter's do not crowd the diff.
    return snapshot.filter_traces([tracemalloc.Filter(True, __file__)])


def line_total(snapshot, lineno):
    # Memory still traced on the given line of this file.
    return sum(stat.size for stat in snapshot.statistics("lineno")
               if stat.traceback[0].lineno == lineno)


tracemalloc.start()
snapshots = [on_this_file(tracemalloc.take_snapshot())]
for round_number in (1, 2):
    serve(round_number * CALLS, CALLS)
    snapshots.append(on_this_file(tracemalloc.take_snapshot()))

    top = snapshots[-1].compare_to(snapshots[-2], "lineno")[0]
    frame = top.traceback[0]
    source = linecache.getline(frame.filename, frame.lineno).strip()
    print("after %d calls: top growth at line %d: %s  %+.0f KiB in %+d blocks"
          % (round_number * CALLS, frame.lineno, source, top.size_diff / KIB, top.count_diff))
    assert source.startswith("_cache[request_id] ="), "top growth should be the cache, got %r" % source
    assert top.size_diff >= CALLS * RESULT_SIZE, \
        "each round should leak >= %d KiB, saw %d bytes" % (CALLS * RESULT_SIZE // KIB, top.size_diff)
    assert top.count_diff >= CALLS, "each call should leave at least one block"

leak_line = frame.lineno
one_round = line_total(snapshots[1], leak_line)
two_rounds = line_total(snapshots[2], leak_line)
print("traced on the cache line: %.0f KiB after %d calls, %.0f KiB after %d calls; %d entries cached"
      % (one_round / KIB, CALLS, two_rounds / KIB, 2 * CALLS, len(_cache)))
assert two_rounds >= 2 * one_round * 0.95, "the leak should grow with the number of calls"
assert len(_cache) == 2 * CALLS, "every request should still be cached"
tracemalloc.stop()
sys.exit(0)
