"""Deterministic freeing: a weakref.finalize callback runs the moment the last reference is deleted, with the cyclic gc switched off.

Expected: with gc.disable() in force, deleting the only reference to an
object frees it at once through reference counting: its finalizer has run
before the next statement, finalize.alive turns False, and a
gc.callbacks recorder shows that no garbage collection ran meanwhile.
A second, extra reference delays the finalizer until that one goes too.

Docs: https://docs.python.org/3/library/weakref.html#weakref.finalize,
https://docs.python.org/3/library/gc.html (gc.disable, gc.callbacks),
https://docs.python.org/3/reference/datamodel.html (objects are destroyed
when they become unreachable; CPython uses reference counting).
"""
import gc
import sys
import weakref


class Resource:
    """A plain object with no reference cycles."""


freed = []            # names of resources whose finalizer ran
gc_runs = []          # any collection the collector starts is recorded here


def record_gc(phase, info):
    gc_runs.append((phase, info["generation"]))


gc.disable()
gc.callbacks.append(record_gc)

# Case 1: a single reference. The callback must not refer to the object
# itself (that would keep it alive), so it gets a plain string.
res = Resource()
fin = weakref.finalize(res, freed.append, "first")
assert fin.alive, "finalizer should be pending while the object lives"
del res
print("after del of the only reference: freed =", freed, " fin.alive =", fin.alive)
assert freed == ["first"], "finalizer should have run immediately, freed=%r" % (freed,)
assert not fin.alive, "finalizer should be dead after running"

# Case 2: two references. Deleting one is not enough.
res = Resource()
other = res
fin2 = weakref.finalize(res, freed.append, "second")
del res
print("after del of one of two refs:    freed =", freed, " fin2.alive =", fin2.alive)
assert freed == ["first"] and fin2.alive, "object still referenced, must not be freed yet"
del other
print("after del of the last ref:       freed =", freed, " fin2.alive =", fin2.alive)
assert freed == ["first", "second"], "finalizer should run on the last del, freed=%r" % (freed,)

gc.callbacks.remove(record_gc)
print("gc enabled:", gc.isenabled(), " collections seen meanwhile:", gc_runs)
assert not gc.isenabled(), "gc should still be disabled"
assert gc_runs == [], "no garbage collection should have run, saw %r" % (gc_runs,)
gc.enable()
sys.exit(0)
