"""Samples a module's memory over its run, from outside the module's process.

The container's wrapper (`WRAPPER` in xtask/src/harness/mod.rs) starts this in
the background right before the module, as `python3 -I -S` (no site, no user
paths: it imports only built-in modules), with its stdout on an unlinked file
the module's command does not get. It never ends by itself: the wrapper's
`kill -KILL -1` ends it once the module has, then the wrapper prints the file
on its own nonce-carrying line. The runner parses that line as untrusted (a
module runs as the same user and could write into this process's file).

Each sample is the resident set of every process in the container except
PID 1 (the wrapper), this sampler, and the `timeout` and GNU `time` processes
around the module (their own memory is not the module's), and the
container's memory as its cgroup counts it (v2 `memory.current`, v1
`memory.usage_in_bytes`; this sampler is in that figure, a few MiB).

Every sample is a bucket, every PERIOD_MS at first; when CAP buckets are
full, neighbours are merged keeping each one's maximum (the peak survives)
and the period doubles, so a run of any length has between CAP/2 and CAP
points and costs fewer samples the longer it runs. The file always holds the
buckets so far as fixed-width records, so it is whole whenever the sampler is
killed: `TTTTTTTTT,RRRRRRRRRR,CCCCCCCCCC;` = the bucket's end in ms since the
sampler started, its maximum RSS and cgroup memory in KiB (`-` when unknown).
"""

import os
import time

CAP = 128  # MAX_POINTS in xtask/src/model/series.rs; 32-byte records: the wrapper reads 4096 bytes
PERIOD_MS = 5
CGROUP_FILES = ("/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory/memory.usage_in_bytes")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
OUT = 1


def module_rss_kib(own):
    """The resident set of the module's processes, in KiB."""
    seen = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or name == "1" or int(name) == own:
            continue
        try:
            with open("/proc/" + name + "/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue  # gone since the listing
        close = data.rfind(b")")
        fields = data[close + 2 :].split()
        comm = data[data.find(b"(") + 1 : close]
        seen.append((int(name), int(fields[1]), comm, int(fields[21])))
    # `timeout` (a child of the wrapper) and GNU time (its child) run the module.
    outer = {pid for pid, ppid, comm, _ in seen if ppid == 1 and comm == b"timeout"}
    outer |= {pid for pid, ppid, comm, _ in seen if ppid in outer and comm == b"time"}
    return sum(rss for pid, _, _, rss in seen if pid not in outer) * PAGE_KIB


def open_cgroup():
    for path in CGROUP_FILES:
        try:
            return os.open(path, os.O_RDONLY)
        except OSError:
            pass
    return None


def cgroup_kib(fd):
    if fd is None:
        return None
    try:
        return -(-int(os.pread(fd, 32, 0)) // 1024)
    except (OSError, ValueError):
        return None


def record(t_ms, rss, cgroup):
    cg = "-" * 10 if cgroup is None else "%010d" % min(cgroup, 9999999999)
    return ("%09d,%010d,%s;" % (min(t_ms, 999999999), min(rss, 9999999999), cg)).encode()


WIDTH = len(record(0, 0, 0))


class Buckets:
    """The buckets so far, mirrored into the file on descriptor `out`."""

    def __init__(self, out, cap=CAP):
        self.out, self.cap, self.buckets = out, cap, []

    def add(self, t_ms, rss, cgroup):
        """A sample as a new bucket; True when the buckets were merged first
        (the caller then samples half as often)."""
        merged = len(self.buckets) == self.cap
        if merged:
            pairs = zip(self.buckets[0::2], self.buckets[1::2])
            self.buckets = [[b[0], max(a[1], b[1]), None if None in (a[2], b[2]) else max(a[2], b[2])] for a, b in pairs]
            # Rewritten whole, then cut to its new length.
            os.pwrite(self.out, b"".join(record(*b) for b in self.buckets), 0)
            os.ftruncate(self.out, len(self.buckets) * WIDTH)
        self.buckets.append([t_ms, rss, cgroup])
        os.pwrite(self.out, record(t_ms, rss, cgroup), (len(self.buckets) - 1) * WIDTH)
        return merged


def main():
    own = os.getpid()
    cgroup = open_cgroup()
    start = time.monotonic()
    period = PERIOD_MS / 1000
    buckets = Buckets(OUT)
    while True:
        rss = module_rss_kib(own)
        cg = cgroup_kib(cgroup)
        if buckets.add(int((time.monotonic() - start) * 1000), rss, cg):
            period *= 2
        time.sleep(period)


if __name__ == "__main__":
    main()
