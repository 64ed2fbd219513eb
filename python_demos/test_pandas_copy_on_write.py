"""pandas copy-on-write: a derived DataFrame shares its parent's buffers until it is written, and a write copies only the column written.

Expected, for a frame of three columns of 1,000,000 values (about 7.6 MiB
each), with copy-on-write on (the only mode from pandas 3.0, which Python
3.11 and later get; switched on with the mode.copy_on_write option on the
pandas 2 that Python 3.9 gets):
- DataFrame.rename (a new frame, new labels) allocates less than 5% of the
  frame's size, traced by tracemalloc (numpy's buffers are traced, see
  test_numpy_buffers.py), and each of its columns shares memory with its
  parent's (numpy.shares_memory);
- writing one value into its first column copies that column (at least its
  size is allocated, less than the whole frame), the parent keeps its value,
  and the other columns are still shared;
- a deep copy (DataFrame.copy()) allocates at least the whole frame: the
  copy copy-on-write saved.
Under copy-on-write no frame ever writes into another's data, so the saving
is safe; it holds under every PYTHONMALLOC setting (the buffers are numpy's).

Docs: https://pandas.pydata.org/docs/user_guide/copy_on_write.html,
https://numpy.org/doc/stable/reference/generated/numpy.shares_memory.html,
https://docs.python.org/3/library/tracemalloc.html.
"""
import tracemalloc

import numpy as np
import pandas as pd

MIB = 1024 * 1024
ROWS = 1_000_000

if int(pd.__version__.split(".")[0]) < 3:
    pd.set_option("mode.copy_on_write", True)
print("pandas %s, numpy %s" % (pd.__version__, np.__version__))

parent = pd.DataFrame({
    "a": np.arange(ROWS, dtype=np.float64),
    "b": np.arange(ROWS, dtype=np.float64) * 2,
    "c": np.arange(ROWS, dtype=np.int64),
})
column_bytes = ROWS * 8
frame_bytes = 3 * column_bytes


def shared(left, right):
    return np.shares_memory(left.to_numpy(), right.to_numpy())


tracemalloc.start()


def traced():
    return tracemalloc.get_traced_memory()[0]


start = traced()
derived = parent.rename(columns=str.upper)
renamed = traced() - start
print("rename:             %+8.2f MiB, columns shared: %s"
      % (renamed / MIB, [shared(derived[c.upper()], parent[c]) for c in "abc"]))
assert renamed < frame_bytes * 0.05, "a derived frame should cost next to nothing"
assert all(shared(derived[c.upper()], parent[c]) for c in "abc"), "it shares every buffer"

start = traced()
derived.iloc[0, 0] = -1.0
written = traced() - start
print("write one value:    %+8.2f MiB, parent's a[0] = %s, shared: A %s, B %s, C %s"
      % (written / MIB, float(parent["a"].iloc[0]), shared(derived["A"], parent["a"]),
         shared(derived["B"], parent["b"]), shared(derived["C"], parent["c"])))
assert column_bytes <= written < frame_bytes, "the write copies the column it writes"
assert parent["a"].iloc[0] == 0.0 and derived["A"].iloc[0] == -1.0, "the parent is not written"
assert not shared(derived["A"], parent["a"]), "the written column is its own now"
assert shared(derived["B"], parent["b"]) and shared(derived["C"], parent["c"]), "the others still shared"

start = traced()
deep = parent.copy()
copied = traced() - start
print("deep copy:          %+8.2f MiB (what copy-on-write saved)" % (copied / MIB))
assert copied >= frame_bytes, "a deep copy copies every column"
assert not any(shared(deep[c], parent[c]) for c in "abc")
del derived, deep
tracemalloc.stop()
