"""pyarrow: its memory pool keeps freed memory (pyarrow.total_allocated_bytes() falls to its start, RSS does not) until release_unused() gives it back.

Expected, for 128 buffers of 1 MiB each from pyarrow's default memory pool
(mimalloc in pyarrow's Linux wheels, from pyarrow 21 for Python 3.9 to the
newest), each filled so that its pages are really backed:
- while they are held, the pool counts 128 MiB more
  (pyarrow.total_allocated_bytes(), the default pool's bytes_allocated())
  and RSS is at least 90% of 128 MiB higher;
- after del, the pool counts what it counted before, to the byte, but RSS
  stays within 20% of where it was while they were held: mimalloc keeps the
  freed pages for reuse, so a process whose arrow data is all gone can still
  look as large as at its peak (the finding behind the original project,
  cytomining/CytoTable#75);
- after the pool's release_unused(), RSS falls to within 15% of 128 MiB of
  its start;
- the system pool (the C library's malloc) given one buffer of 64 MiB, far
  above glibc's largest mmap threshold, gives it back at del, with no
  release_unused(): keeping the memory is the pool's doing, not the OS's.
When the default pool is not mimalloc (ARROW_DEFAULT_MEMORY_POOL chose
another) the module uses pyarrow.mimalloc_memory_pool(), and skips (exit
77), saying why, when this pyarrow has no mimalloc. Arrow's memory does not
go through PyMem, so PYTHONMALLOC changes none of this.

Docs: https://arrow.apache.org/docs/python/memory.html (memory pools,
total_allocated_bytes), https://arrow.apache.org/docs/python/generated/pyarrow.MemoryPool.html
(bytes_allocated, release_unused, backend_name),
https://arrow.apache.org/docs/cpp/env_vars.html (ARROW_DEFAULT_MEMORY_POOL).
"""
import os
import sys

import numpy as np
import pyarrow as pa

MIB = 1024 * 1024
COUNT = 128
SIZE = 1 * MIB
TOTAL = COUNT * SIZE
LARGE = 64 * MIB
PAGE = os.sysconf("SC_PAGE_SIZE")
STATM = "/proc/self/statm"
SKIP = 77


def rss():
    """Resident set size in bytes: the second field of statm, in pages."""
    with open(STATM) as f:
        return int(f.read().split()[1]) * PAGE


def filled_buffer(size, pool):
    """A buffer of `size` bytes from `pool`, every page of it written."""
    buffer = pa.allocate_buffer(size, memory_pool=pool)
    np.frombuffer(buffer, dtype=np.uint8)[:] = 1
    return buffer


if not os.path.exists(STATM):
    print("SKIP: %s is not available, cannot read the resident set size" % STATM)
    sys.exit(SKIP)

pool = pa.default_memory_pool()
is_default = pool.backend_name == "mimalloc"
if not is_default:
    if "mimalloc" not in pa.supported_memory_backends():
        print("SKIP: pyarrow %s has no mimalloc pool (backends: %s)"
              % (pa.__version__, ", ".join(pa.supported_memory_backends())))
        sys.exit(SKIP)
    pool = pa.mimalloc_memory_pool()
print("pyarrow %s, pool %s (%s)" % (pa.__version__, pool.backend_name,
                                    "the default" if is_default else "not the default"))

pool.release_unused()
counted0, rss0 = pool.bytes_allocated(), rss()

buffers = [filled_buffer(SIZE, pool) for _ in range(COUNT)]
counted1, rss1 = pool.bytes_allocated(), rss()
print("holding %d x 1 MiB:   pool counts %+.1f MiB, RSS %+.1f MiB"
      % (COUNT, (counted1 - counted0) / MIB, (rss1 - rss0) / MIB))
assert counted1 - counted0 >= TOTAL, "the pool counts what it handed out"
assert rss1 - rss0 >= TOTAL * 0.9, "filled buffers are resident"
if is_default:
    assert pa.total_allocated_bytes() == counted1, "total_allocated_bytes() is the default pool's count"

del buffers
counted2, rss2 = pool.bytes_allocated(), rss()
print("after del:              pool counts %+.1f MiB, RSS %+.1f MiB (kept by the pool)"
      % ((counted2 - counted0) / MIB, (rss2 - rss0) / MIB))
assert counted2 == counted0, "every buffer is back in the pool"
assert rss2 >= rss1 - (rss1 - rss0) * 0.2, \
    "mimalloc keeps freed pages: RSS should stay near its peak, fell by %.1f MiB" % ((rss1 - rss2) / MIB)

pool.release_unused()
rss3 = rss()
print("after release_unused(): RSS %+.1f MiB from start" % ((rss3 - rss0) / MIB))
assert rss3 - rss0 <= TOTAL * 0.15, "release_unused() gives the kept pages back"

system = pa.system_memory_pool()
large = filled_buffer(LARGE, system)
rss4 = rss()
del large
rss5 = rss()
print("system pool, 64 MiB:    RSS %+.1f MiB held, %+.1f MiB after del"
      % ((rss4 - rss3) / MIB, (rss5 - rss3) / MIB))
assert rss4 - rss3 >= LARGE * 0.9
assert rss5 - rss3 <= LARGE * 0.1, "malloc's mmap'd block goes back at free"
