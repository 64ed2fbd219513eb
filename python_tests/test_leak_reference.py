# pymaccounter: expect = leak
# pymaccounter: hunt-leaks = 3:3
"""A deliberate reference leak: an extra Py_IncRef keeps a fresh object alive forever, one leaked reference per run.

Expected: each time this module runs it makes a new set inside a
function, takes one extra reference to it through the C API
(ctypes.pythonapi.Py_IncRef), and never gives it back, the way a C
extension that forgets a Py_DECREF does. The same function without the
extra reference is the control.
- sys.getrefcount() on the set rises by exactly one at the Py_IncRef;
- once the function has returned and a full gc.collect() has run, a weak
  reference to the control set is dead, and one to the leaked set still
  resolves: nothing refers to it, yet its count never reaches zero, so
  neither reference counting nor the cyclic collector can free it;
- on a debug build, sys.gettotalrefcount() moves by exactly one more with
  the bug than without it.
As a plain script this passes: one run leaks one small object. Run many
times in one interpreter (`--hunt-leaks`, like CPython's `python -m test
-R 3:3`), the total reference count and the allocated blocks grow on every
run: that is the leak the header above declares (`expect = leak`).

Docs: https://docs.python.org/3/c-api/refcounting.html (Py_IncRef),
https://docs.python.org/3/library/ctypes.html#accessing-values-exported-from-dlls
(ctypes.pythonapi), https://docs.python.org/3/library/weakref.html,
https://docs.python.org/3/library/sys.html#sys.gettotalrefcount.
"""
import gc
import sys
import weakref

SKIP = 77

try:
    import ctypes
except ImportError as error:   # a build without _ctypes cannot call the C API
    print("SKIP: ctypes is not available here (%s)" % error)
    sys.exit(SKIP)

Py_IncRef = ctypes.pythonapi.Py_IncRef
Py_DecRef = ctypes.pythonapi.Py_DecRef
for function in (Py_IncRef, Py_DecRef):
    function.argtypes = [ctypes.py_object]
    function.restype = None
# A balanced pair first: ctypes sets up its argument conversion on the first
# call, and that one-time cost must not be mistaken for the leak below.
warm_up = set()
Py_IncRef(warm_up)
Py_DecRef(warm_up)

total = getattr(sys, "gettotalrefcount", None)   # debug builds only
clear_type_cache = getattr(sys, "_clear_internal_caches", None) or sys._clear_type_cache   # 3.13+ / before


def make_set(leak):
    """A new empty set, with the bug or without it: a weak reference to it and its counts around the bug."""
    fresh = set()           # sets can be weakly referenced
    probe = weakref.ref(fresh)
    before = sys.getrefcount(fresh)
    if leak:
        Py_IncRef(fresh)    # the bug: a reference nobody will ever release
    after = sys.getrefcount(fresh)
    return probe, before, after   # the function's name for the set goes here


def run(leak):
    """make_set(leak), with the change of the total reference count (None on a release build).

    Nothing is printed while the total is measured: a first print sets up
    buffers that would count as references too.
    """
    settle()
    start = total() if total else None
    probe, before, after = make_set(leak)
    settle()
    moved = total() - start if total else None
    return probe, moved, after - before


def settle():
    """A full collection and an empty type attribute cache, as CPython's leak hunter does.

    The cache keeps references to looked-up names in slots chosen by their
    addresses, so what it holds differs from run to run.
    """
    gc.collect()
    clear_type_cache()


control, control_moved, control_added = run(leak=False)
assert control_added == 0, "without the bug nothing adds a reference"
print("without the bug, after the function returned: the set is alive:", control() is not None)
assert control() is None, "with no extra reference the set is freed when its last name goes"

leaked, leaked_moved, leaked_added = run(leak=True)
print("getrefcount rose by %d at the Py_IncRef" % leaked_added)
assert leaked_added == 1, "Py_IncRef should add exactly one reference"
print("with Py_IncRef, after the function returned and gc.collect(): the set is alive:",
      leaked() is not None)
assert leaked() is not None, "the leaked set must survive: its count can never reach zero"

if total:
    print("debug build: total reference count moved %+d without the bug, %+d with it"
          % (control_moved, leaked_moved))
    assert leaked_moved - control_moved == 1, \
        "the leak should be exactly one reference, got %+d" % (leaked_moved - control_moved)
else:
    print("release build: sys.gettotalrefcount() is not available; the weak reference shows the leak")
sys.exit(0)
