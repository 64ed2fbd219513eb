"""Reference cycles: objects in a cycle survive del until gc.collect() finds and frees them.

Expected: two objects that refer to each other stay alive after their
names are deleted (a weak reference still resolves, and their finalizer
has not run), because each still holds a reference to the other. A full
gc.collect() then reclaims them: the weak reference goes dead, the
finalizer runs, and gc.collect() reports at least the 2 objects of the
cycle (it may count more, e.g. their attribute dicts, depending on the
version).

The automatic collector is disabled so that it cannot reclaim the cycle at
an arbitrary moment, and one gc.collect() is run first so that garbage left
by importing modules (e.g. importing weakref leaves a few cyclic objects on
some versions) is not counted as the cycle's.

Docs: https://docs.python.org/3/library/gc.html (gc.collect, gc.disable),
https://docs.python.org/3/library/weakref.html (weakref.ref, finalize).
"""
import gc
import sys
import weakref


class Node:
    def __init__(self, name):
        self.name = name
        self.partner = None


gc.disable()
leftover = gc.collect()
print("import-time garbage cleared first:", leftover, "objects")

a = Node("a")
b = Node("b")
a.partner = b          # a -> b
b.partner = a          # b -> a: now a cycle
probe = weakref.ref(a)
freed = []
weakref.finalize(b, freed.append, "b")

del a, b
print("after del a, b: weakref alive =", probe() is not None, " finalizer ran =", freed)
assert probe() is not None, "a cycle must survive del: refcounts never reach zero"
assert freed == [], "b must not be finalized before the collector runs"

found = gc.collect()
print("gc.collect() reported", found, "unreachable objects")
print("after collect:  weakref alive =", probe() is not None, " finalizer ran =", freed)
assert probe() is None, "the cycle should have been reclaimed by gc.collect()"
assert freed == ["b"], "b's finalizer should have run during the collection"
assert found >= 2, "gc.collect() should count at least the 2 nodes, got %d" % found
assert gc.garbage == [], "nothing should be uncollectable, got %r" % (gc.garbage,)
gc.enable()
sys.exit(0)
