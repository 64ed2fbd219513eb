"""GC generations and thresholds: gc.get_count, gc.get_threshold and gc.get_stats move as container objects are allocated, freed and collected.

Expected (with automatic collection disabled, after a full collection):
- gc.get_threshold() is three positive ints ((700, 10, 10) on 3.9 and
  3.11, (2000, 10, 10) on 3.13; only positivity is asserted);
- gc.get_count() is (0, 0, 0), give or take a few objects, right after
  gc.collect(); its first element rises by about N when N gc-tracked
  objects are created and falls by about N when they are freed (within
  SLACK, for the few other objects the interpreter makes meanwhile);
- gc.collect(0) adds one to get_stats()[0]["collections"], resets the
  generation-0 count and adds one to the generation-1 count;
- gc.collect() adds one to get_stats()[2]["collections"] and resets all
  counts to (0, 0, 0);
- with gc enabled and gc.set_threshold(100), creating 1000 tracked objects
  triggers automatic generation-0 collections on its own.
Instances of a plain class are used because a freed list or dict may be
parked on a free list, and then the count does not go down.

Docs: https://docs.python.org/3/library/gc.html (get_count, get_threshold,
set_threshold, get_stats, collect(generation)),
https://devguide.python.org/internals/garbage-collector/ (generations).
"""
import gc
import sys

N = 300
SLACK = 10   # other tracked objects the interpreter may create or free meanwhile


class Item:
    """An instance of a plain class is gc-tracked and has no free list."""


def collections():
    return [gen["collections"] for gen in gc.get_stats()]


threshold = gc.get_threshold()
print("get_threshold():", threshold)
assert len(threshold) == 3 and all(isinstance(t, int) and t > 0 for t in threshold), \
    "expected three positive thresholds, got %r" % (threshold,)
assert len(gc.get_stats()) == 3, "expected stats for 3 generations"

gc.disable()   # from here on only explicit collections run
gc.collect()
start = gc.get_count()
print("after gc.collect():       get_count() =", start)
assert start[0] < SLACK and start[1:] == (0, 0), "a full collection should reset counts, got %r" % (start,)

items = [Item() for _ in range(N)]
grown = gc.get_count()
print("after %d new objects:    get_count() = %r" % (N, grown))
rise = grown[0] - start[0]
assert abs(rise - N) <= SLACK, "count[0] should rise by about %d, rose by %d" % (N, rise)

del items
shrunk = gc.get_count()
print("after freeing them:       get_count() =", shrunk)
fall = grown[0] - shrunk[0]
assert abs(fall - N) <= SLACK, "count[0] should fall by about %d, fell by %d" % (N, fall)

items = [Item() for _ in range(N)]   # kept alive: collect(0) moves them to generation 1
before, stats_before = gc.get_count(), collections()
gc.collect(0)
after, stats_after = gc.get_count(), collections()
print("gc.collect(0):            get_count() %r -> %r, collections %r -> %r"
      % (before, after, stats_before, stats_after))
assert stats_after[0] == stats_before[0] + 1, "generation 0 should count one more collection"
assert after[0] < before[0] and after[0] < SLACK, "generation-0 count should be reset"
assert after[1] == before[1] + 1, "generation-1 count should rise by one per gen-0 collection"

stats_before = collections()
gc.collect()
after, stats_after = gc.get_count(), collections()
print("gc.collect():             get_count() = %r, collections %r -> %r" % (after, stats_before, stats_after))
assert stats_after[2] == stats_before[2] + 1, "generation 2 should count one more collection"
assert after[0] < SLACK and after[1:] == (0, 0), "a full collection should reset counts, got %r" % (after,)

# Automatic collection: a low threshold and enough new objects make the
# collector run by itself, which shows up in get_stats().
gc.set_threshold(100)
gc.enable()
stats_before = collections()
more = [Item() for _ in range(1000)]
stats_after = collections()
count = gc.get_count()
gc.set_threshold(*threshold)
print("set_threshold(100) + 1000 new objects: collections %r -> %r, get_count() = %r"
      % (stats_before, stats_after, count))
auto = stats_after[0] - stats_before[0]
assert auto >= 5, "expected several automatic generation-0 collections, saw %d" % auto
assert count[0] <= 100 + SLACK, "count[0] should stay near the threshold, got %r" % (count,)
sys.exit(0)
