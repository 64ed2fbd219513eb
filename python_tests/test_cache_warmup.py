"""A cache that fills during the first runs and then stops growing: memory rises run after run at first, yet it is not a leak under CPython's leak-hunting rule.

CPython's leak hunter (`python -m test -R WARMUPS:RUNS`, and this runner's
`--hunt-leaks`) runs a test WARMUPS + RUNS times in one interpreter and
measures references and memory blocks after each run. It calls them leaked
only when EVERY one of the RUNS deltas after the warmups is at least 1: a
delta of 0 in any measured run means the growth stopped, as a cache's does
once it is full. (Open descriptors are stricter: any change is a leak.)

Expected:
- a bounded cache (at most CAPACITY entries, PER_RUN new ones per run)
  driven through WARMUPS + RUNS = 3 + 3 simulated runs in this process
  grows in runs 1 to 4 and stops in runs 5 and 6: traced memory (via
  tracemalloc) moves by 0 bytes there (by less than SETTLED bytes: 3.9
  allocates about 100 bytes once, in run 6), so its measured deltas are
  [growth, 0, about 0], and the rule says "no leak";
- the same cache without a bound grows by at least PER_RUN entries' worth
  in every run, and the rule says "leak";
- the module also keeps such a bounded cache for the whole process (in
  sys.modules, where a C extension or a library would keep its state), one
  run's worth of entries per execution of this module: run under
  `--hunt-leaks 3:3` it grows during the warmups and the first measured
  run, then stops, so the hunter finds no leak here.

Docs: https://docs.python.org/3/library/tracemalloc.html
(get_traced_memory), https://docs.python.org/3/library/sys.html#sys.getallocatedblocks,
https://devguide.python.org/testing/run-write-tests/ (finding reference
leaks with -R), https://docs.python.org/3/library/array.html.
"""
import array
import gc
import sys
import tracemalloc
import types

WARMUPS, RUNS = 3, 3
PER_RUN = 200                  # entries a run adds while there is room
CAPACITY = 4 * PER_RUN         # full after run 4: the warmups and the first measured run
STORE = "_pymaccounter_cache_warmup"
SETTLED = 1024                 # bytes: less than a run's worth of entries by far


def lookup(entries, capacity, key):
    """Memoize key's result in entries while there is room; past capacity, compute without storing."""
    try:
        return entries[key]
    except KeyError:
        value = "result for request %d" % key   # a fresh string: one more block per entry
        if capacity is None or len(entries) < capacity:
            entries[key] = value
        return value


def one_run(entries, capacity, run_number):
    # Every run asks for new keys, as new requests would.
    first = run_number * PER_RUN
    for key in range(first, first + PER_RUN):
        lookup(entries, capacity, key)


def leaks(measured):
    """CPython's rule for references and blocks: a leak only if every measured delta is >= 1."""
    return all(delta >= 1 for delta in measured)


def simulate(capacity):
    """Deltas of traced memory over WARMUPS + RUNS runs of one cache; returns the measured ones."""
    entries = {}
    total = WARMUPS + RUNS
    # Readings go into a preallocated array: storing a Python int in a list
    # would itself allocate and show up in the next reading.
    readings = array.array("q", bytes(8 * (total + 1)))
    tracemalloc.start()
    gc.collect()
    readings[0] = tracemalloc.get_traced_memory()[0]
    for run_number in range(total):
        one_run(entries, capacity, run_number)
        gc.collect()
        readings[run_number + 1] = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    deltas = [readings[i + 1] - readings[i] for i in range(total)]
    return deltas, len(entries)


bounded, bounded_size = simulate(CAPACITY)
print("bounded cache (capacity %d):   traced bytes per run %s, %d entries"
      % (CAPACITY, bounded, bounded_size))
growing_runs = CAPACITY // PER_RUN
assert bounded_size == CAPACITY, "the bounded cache should be exactly full"
assert all(delta >= PER_RUN for delta in bounded[:growing_runs]), \
    "the first %d runs should each add at least %d bytes" % (growing_runs, PER_RUN)
assert all(abs(delta) < SETTLED for delta in bounded[growing_runs:]), \
    "once full, a run should leave traced memory (nearly) unchanged: %r" % (bounded,)
measured = bounded[WARMUPS:]
print("  measured deltas after %d warmups: %s -> leak: %s" % (WARMUPS, measured, leaks(measured)))
assert measured[0] > 0, "the first measured run still grows (the cache is not yet full)"
assert not leaks(measured), "growth that stops is not a leak under the every-delta rule"

unbounded, unbounded_size = simulate(None)
measured = unbounded[WARMUPS:]
print("unbounded cache:               traced bytes per run %s, %d entries" % (unbounded, unbounded_size))
print("  measured deltas after %d warmups: %s -> leak: %s" % (WARMUPS, measured, leaks(measured)))
assert unbounded_size == (WARMUPS + RUNS) * PER_RUN, "an unbounded cache keeps every entry"
assert leaks(measured), "a cache that grows on every run is a leak under the same rule"

# The process-wide cache: it outlives this module's globals, so repeated
# executions in one interpreter (leak hunting) fill it up run after run.
store = sys.modules.get(STORE)
if store is None:
    store = types.ModuleType(STORE, "process-wide state of test_cache_warmup.py")
    store.entries, store.runs = {}, 0
    sys.modules[STORE] = store
one_run(store.entries, CAPACITY, store.runs)
store.runs += 1
print("process-wide cache: execution %d of this module, %d entries (capacity %d)"
      % (store.runs, len(store.entries), CAPACITY))
assert len(store.entries) == min(store.runs * PER_RUN, CAPACITY), "the shared cache fills, then stops"
sys.exit(0)
