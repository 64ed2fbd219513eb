"""A gc.callbacks hook sees the start and stop of a collection that, after plain arithmetic, collects nothing.

Expected: multiply_sum(10) prints "45"; during gc.collect() the hook is
called with phase "start" and then "stop", both for generation 2 (a full
collection), and the "stop" info reports collected == 0 and
uncollectable == 0; gc.collect() itself returns 0.

Only gc (and sys) are imported, because importing some stdlib modules
leaves a little cyclic garbage at import time.

Docs: https://docs.python.org/3/library/gc.html (gc.callbacks,
gc.collect).
"""
import gc
import sys

events = []  # (phase, generation, collected, uncollectable) per call


def on_gc(phase, info):
    # Called by the collector itself: record and print, nothing more.
    event = (phase, info["generation"], info["collected"], info["uncollectable"])
    events.append(event)
    print("  gc callback: phase=%s generation=%d collected=%d uncollectable=%d" % event)


def multiply_sum(n):
    # Only ints and a generator: no reference cycles are created.
    return sum(i * 1 for i in range(n))


result = multiply_sum(10)
print(result)
assert result == 45, "multiply_sum(10) should be 45, got %r" % (result,)

gc.callbacks.append(on_gc)
try:
    found = gc.collect()
finally:
    gc.callbacks.remove(on_gc)
print("gc.collect() returned", found)

# An automatic collection could in principle also run while the hook is
# installed, so look for the explicit full collection: start then stop for
# generation 2, as the last two events.
assert len(events) >= 2, "callback should have run for start and stop, got %r" % (events,)
start, stop = events[-2], events[-1]
assert start[:2] == ("start", 2), "expected a start of generation 2, got %r" % (start,)
assert stop[:2] == ("stop", 2), "expected a stop of generation 2, got %r" % (stop,)
for phase, gen, collected, uncollectable in events:
    assert collected == 0 and uncollectable == 0, \
        "nothing should be collected, got %r" % ((phase, gen, collected, uncollectable),)
assert found == 0, "expected gc.collect() to return 0, got %d" % found
sys.exit(0)
