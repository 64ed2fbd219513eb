"""Total reference count on a debug build: making and dropping N objects moves sys.gettotalrefcount() up by N and back.

Expected (only on a debug build of CPython, e.g. Debian's python3.X-dbg,
`--python 3.11-dbg`; a release build has no sys.gettotalrefcount and the
module exits 77 saying so):
- N new object() instances kept in a list raise the interpreter-wide total
  by N (one reference each, held by the list), give or take SLACK for the
  list itself and the interpreter's own bookkeeping meanwhile;
- the same list holding one object N times raises it by N as well: the
  total counts references, not objects;
- del of the list brings the total back to where it started (within SLACK);
- a list holding None N times adds about nothing on 3.12+ (None is
  immortal: increments of immortal objects are not counted) and N before.
This is the number CPython's own leak hunter (`python -m test -R`) watches:
a test that leaks references makes it grow on every repetition.

Docs: https://docs.python.org/3/library/sys.html#sys.gettotalrefcount,
https://docs.python.org/3/using/configure.html#debug-build (what a debug
build adds), https://peps.python.org/pep-0683/ (immortal objects).
"""
import sys

SKIP = 77
N = 100000
SLACK = 50   # the list object, the ints of the bookkeeping, caches touched meanwhile

if not hasattr(sys, "gettotalrefcount"):
    print("SKIP: sys.gettotalrefcount() exists only on a debug build (try --python %d.%d-dbg)"
          % sys.version_info[:2])
    sys.exit(SKIP)


def total_change(make):
    """Total reference count change while make()'s result is held, and after it is dropped."""
    start = sys.gettotalrefcount()
    held = make()
    during = sys.gettotalrefcount()
    del held
    end = sys.gettotalrefcount()
    return during - start, end - start


def near(value, expected):
    return abs(value - expected) <= SLACK


one = object()
cases = [
    ("%d new objects" % N, lambda: [object() for _ in range(N)], N),
    ("one object %d times" % N, lambda: [one] * N, N),
    ("None %d times" % N, lambda: [None] * N, 0 if sys.version_info >= (3, 12) else N),
]
print("debug build: %s, total reference count now %d" % (sys.version.split()[0], sys.gettotalrefcount()))
for label, make, expected in cases:
    held, dropped = total_change(make)
    print("%-24s total %+8d while held (expected %+d), %+4d after del" % (label, held, expected, dropped))
    assert near(held, expected), "%s: expected the total to move by %d (+-%d), it moved %+d" \
        % (label, expected, SLACK, held)
    assert near(dropped, 0), "%s: del should bring the total back, it is off by %+d" % (label, dropped)
sys.exit(0)
