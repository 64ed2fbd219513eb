"""Reference counting: sys.getrefcount rises by one for each new reference and falls by one when it goes.

Expected: for a freshly created object, binding another name, putting it in
a list and storing it as a dict value each add exactly one reference; del,
list.clear() and dict.pop() take each one away again, ending at the
starting count. (Passing the object to a function is left out on purpose:
on 3.9 a call holds two references, on 3.11+ one.)
Only changes are asserted, never absolute counts: the starting value
includes getrefcount's own temporary argument reference and may differ
between CPython versions. A new object() instance is used because some
objects (None, small ints, interned strings) are immortal on 3.12+ and
their counts no longer move.

Docs: https://docs.python.org/3/library/sys.html#sys.getrefcount,
https://docs.python.org/3/c-api/refcounting.html,
https://docs.python.org/3/glossary.html#term-reference-count.
"""
import sys

obj = object()
base = sys.getrefcount(obj)
print("start: getrefcount(obj) =", base, "(includes the call's own argument)")


def check(label, expected_extra):
    now = sys.getrefcount(obj)
    print("%-30s getrefcount = %d (%+d)" % (label, now, now - base))
    assert now == base + expected_extra, \
        "%s: expected %d extra reference(s), saw %d" % (label, expected_extra, now - base)


alias = obj
check("after alias = obj:", 1)

holder = [obj]
check("after holder = [obj]:", 2)

table = {"key": obj}
check("after table = {'key': obj}:", 3)

table.pop("key")
check("after table.pop('key'):", 2)

del alias
check("after del alias:", 1)

holder.clear()
check("after holder.clear():", 0)
sys.exit(0)
