"""Plain arithmetic leaves no cyclic garbage: gc.collect() afterwards finds nothing.

Expected: multiply_sum(10) == 45 is printed as "45" on its own line, then a
full collection with gc.collect() returns 0 (no unreachable objects were
found) and gc.garbage stays an empty list.

Only gc (and sys) are imported on purpose: importing some stdlib modules
(e.g. weakref or types) leaves a few cyclic objects behind at import time,
which would make gc.collect() return more than 0 without any fault of the
code under test.

Docs: https://docs.python.org/3/library/gc.html (gc.collect, gc.garbage).
"""
import gc
import sys


def multiply_sum(n):
    # Multiplies each i by 1 and sums the products; creates only ints and a
    # generator, none of which form reference cycles.
    return sum(i * 1 for i in range(n))


result = multiply_sum(10)
print(result)
assert result == 45, "multiply_sum(10) should be 45, got %r" % (result,)

found = gc.collect()
print("gc.collect() found", found, "unreachable objects; gc.garbage =", gc.garbage)
assert found == 0, "expected gc.collect() to find nothing, it found %d" % found
assert gc.garbage == [], "expected gc.garbage to be empty, got %r" % (gc.garbage,)
sys.exit(0)
