"""With gc.DEBUG_LEAK set, plain arithmetic still leaves nothing for the collector to report or save.

Expected: after gc.set_debug(gc.DEBUG_LEAK), multiply_sum(10) prints "45",
then gc.collect() returns 0 and gc.garbage stays empty. DEBUG_LEAK includes
DEBUG_SAVEALL, so any object the collector found would be appended to
gc.garbage instead of being freed (and described on stderr): an empty list
is therefore real evidence that nothing was found.

Only gc (and sys) are imported, because importing some stdlib modules
leaves a little cyclic garbage at import time.

Docs: https://docs.python.org/3/library/gc.html (gc.set_debug,
gc.DEBUG_LEAK, gc.DEBUG_SAVEALL, gc.garbage).
"""
import gc
import sys

gc.set_debug(gc.DEBUG_LEAK)
# DEBUG_LEAK is documented as COLLECTABLE | UNCOLLECTABLE | SAVEALL.
assert gc.get_debug() == gc.DEBUG_COLLECTABLE | gc.DEBUG_UNCOLLECTABLE | gc.DEBUG_SAVEALL, \
    "unexpected debug flags %#x" % gc.get_debug()
print("gc debug flags: %#x (DEBUG_LEAK)" % gc.get_debug())


def multiply_sum(n):
    # Only ints and a generator: no reference cycles are created.
    return sum(i * 1 for i in range(n))


result = multiply_sum(10)
print(result)
assert result == 45, "multiply_sum(10) should be 45, got %r" % (result,)

found = gc.collect()
print("gc.collect() found", found, "objects; gc.garbage holds", len(gc.garbage))
assert found == 0, "expected gc.collect() to find nothing, it found %d" % found
assert gc.garbage == [], "DEBUG_SAVEALL kept objects in gc.garbage: %r" % (gc.garbage[:10],)

gc.set_debug(0)
sys.exit(0)
