"""Immortal objects: from Python 3.12 on, None, True and small ints keep a fixed reference count; on 3.9 and 3.11 their counts move like any object's.

Expected: NEW references to an object are made by building a list that
holds it N times, then dropped with del.
- On 3.12 and later (PEP 683), None, True and the small int 7 are
  immortal: sys.getrefcount() on them stays exactly where it was, and it
  reports a huge value (at least 2**29) that says nothing about how many
  references exist.
- On 3.9 and 3.11 the same list raises each one's count by exactly N, and
  del brings it back to where it started. (3.11 already starts its
  statically allocated objects, such as the small ints, at a count near
  10**9 so that they are never freed, but their counts still move.)
- On every version a fresh object() and a large int (beyond the small-int
  cache of -5..256) are ordinary: their counts rise by exactly N and fall
  back, so the test's arithmetic is checked on something mortal too.
Where sys._is_immortal exists (new in 3.14) it must agree.

Docs: https://peps.python.org/pep-0683/ (immortal objects),
https://docs.python.org/3/library/sys.html#sys.getrefcount (the note on
immortal objects), https://docs.python.org/3/c-api/long.html (the small-int
cache, "integers between -5 and 256").
"""
import sys

N = 1000
IMMORTAL_FROM = (3, 12)
# PEP 683 sets an immortal object's count to a value far above any real
# count; every 64-bit CPython since 3.12 reports at least this much.
HUGE = 2 ** 29

immortal_here = sys.version_info >= IMMORTAL_FROM
print("Python %d.%d: immortal objects expected: %s" % (sys.version_info[:2] + (immortal_here,)))


def moves_by(obj):
    """How much N new references (and then their removal) change obj's count."""
    before = sys.getrefcount(obj)
    held = [obj] * N
    during = sys.getrefcount(obj)
    del held
    after = sys.getrefcount(obj)
    return before, during - before, after - before


big = 10 ** 20 + len(sys.argv)   # computed at run time: a fresh, mortal int
cases = [
    ("None", None, True),
    ("True", True, True),
    ("7 (small int)", 7, True),
    ("object()", object(), False),
    ("10**20 (large int)", big, False),
]
for label, obj, immortal_kind in cases:
    before, rise, left = moves_by(obj)
    print("%-20s getrefcount %12d, with %d more references %+d, after del %+d"
          % (label, before, N, rise, left))
    if immortal_kind and immortal_here:
        assert rise == 0 and left == 0, \
            "%s is immortal on 3.12+: its count must not move, moved %+d" % (label, rise)
        assert before >= HUGE, "%s: an immortal count is huge, got %d" % (label, before)
    else:
        assert rise == N, "%s: %d new references should add %d, added %d" % (label, N, N, rise)
        assert left == 0, "%s: del should restore the count, off by %+d" % (label, left)
    if hasattr(sys, "_is_immortal"):
        verdict = sys._is_immortal(obj)
        assert verdict == (immortal_kind and immortal_here), \
            "sys._is_immortal(%s) says %s" % (label, verdict)
sys.exit(0)
