"""Tests of memory_sampler.pl on the host's perl (stdlib unittest): its buckets and
their file (fed samples with `--feed`), and one real run of it beside a process that
allocates and frees, in a fresh PID namespace when `unshare` can make one (else
those tests skip, saying so).

Run with `python3 xtask/tests/harness/test_memory_sampler.py`.
"""

import os
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CONTAINER = os.path.join(HERE, "..", "..", "container")
SAMPLER = os.path.join(CONTAINER, "memory_sampler.pl")
WIDTH = 32  # one record's bytes
TIME = "/usr/bin/time"  # GNU time, as in the container


def parse(data):
    """The file's records as (t_ms, rss_kib, cgroup_kib or None), checking their width."""
    text = data.decode()
    assert text.endswith(";"), text[-40:]
    out = []
    for rec in text[:-1].split(";"):
        t, rss, cg = rec.split(",")
        assert (len(t), len(rss), len(cg)) == (9, 10, 10), rec
        out.append((int(t), int(rss), None if cg == "-" * 10 else int(cg)))
    return out


class Buckets:
    """The sampler's buckets with a cap of 8, fed samples through `--feed`, and its file."""

    def __init__(self):
        self.file = tempfile.TemporaryFile()

    def add_all(self, samples):
        """Feeds (t_ms, rss, cgroup or None) samples; how many merged first."""
        lines = "".join("%d %d %s\n" % (t, rss, "-" if cg is None else cg) for t, rss, cg in samples)
        done = subprocess.run(
            ["perl", SAMPLER, "--feed", "8"], input=lines.encode(), stdout=self.file, stderr=subprocess.PIPE, check=True
        )
        said = done.stderr.decode().split()
        assert len(said) == len(samples), said
        return said.count("merged")

    def contents(self):
        self.file.seek(0)
        return parse(self.file.read())


class BucketsTest(unittest.TestCase):
    def setUp(self):
        self.buckets = Buckets()
        self.addCleanup(self.buckets.file.close)

    def contents(self):
        return self.buckets.contents()

    def test_the_file_holds_every_bucket_so_far(self):
        self.assertEqual(self.buckets.add_all([(t * 5, 100 + t, 200 + t) for t in range(5)]), 0)
        self.assertEqual(self.contents(), [(t * 5, 100 + t, 200 + t) for t in range(5)])

    def test_a_full_buffer_merges_neighbours_keeping_the_maximum_and_the_peak_survives(self):
        samples = [(i * 10, 5000 if i == 37 else i, None if i == 60 else 2 * i) for i in range(100)]
        merges = self.buckets.add_all(samples)
        records = self.contents()
        self.assertLessEqual(len(records), 8)
        self.assertGreaterEqual(len(records), 4)
        self.assertGreater(merges, 3, "it merged each time the buckets were full")
        self.assertEqual(max(r[1] for r in records), 5000, "the spike survives every merge")
        times = [r[0] for r in records]
        self.assertEqual(times, sorted(times))
        self.assertEqual(times[-1], 990, "the last bucket ends at the last sample")
        self.assertIn(None, [r[2] for r in records], "an unknown cgroup figure stays unknown")
        self.assertEqual(os.fstat(self.buckets.file.fileno()).st_size, len(records) * WIDTH)
        self.assertEqual(max(r[2] for r in records if r[2] is not None), 198, "the cgroup's maximum too")

    def test_figures_too_large_for_a_record_are_capped_not_spilled(self):
        self.buckets.add_all([(10**12, 10**13, 10**14)])
        self.assertEqual(self.contents(), [(999999999, 9999999999, 9999999999)])


def can_unshare():
    done = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True)
    return done.returncode == 0


@unittest.skipUnless(can_unshare(), "needs `unshare --pid --mount-proc` (root, or user namespaces)")
@unittest.skipUnless(os.access(TIME, os.X_OK), "needs GNU time at " + TIME)
class RealRunTest(unittest.TestCase):
    """The sampler beside a process that allocates 100 MiB and frees it, in a PID
    namespace whose first process plays the wrapper, as in a container."""

    def test_it_sees_the_rise_and_the_fall_and_not_itself(self):
        # As in the container: PID 1 runs `timeout` → GNU time → the module,
        # which says its own RSS at its peak (VmHWM) on descriptor 4.
        allocate = (
            "import mmap, os, time\n"
            "b = mmap.mmap(-1, 100 << 20)\n"
            "for o in range(0, 100 << 20, 4096): b[o] = 1\n"
            "time.sleep(0.5)\n"
            "os.write(4, [l for l in open('/proc/self/status', 'rb') if l.startswith(b'VmHWM')][0])\n"
            "b.close()\ntime.sleep(0.5)\n"
        )
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as said:
            script = 'perl %s >&3 4>&- & s=$!; timeout 60 %s -o /dev/null %s -c "$ALLOCATE" 3>&-; kill -KILL $s; wait' % (
                SAMPLER,
                TIME,
                sys.executable,
            )

            def descriptors():
                os.dup2(out.fileno(), 3)
                os.dup2(said.fileno(), 4)

            subprocess.run(
                ["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script],
                pass_fds=(out.fileno(), said.fileno()),
                env=dict(os.environ, ALLOCATE=allocate),
                stdin=subprocess.DEVNULL,
                check=True,
                preexec_fn=descriptors,
            )
            out.seek(0)
            records = parse(out.read())
            said.seek(0)
            own_peak = int(said.read().split()[1])
        rss = [r[1] for r in records]
        peak = rss.index(max(rss))
        times = [r[0] for r in records]
        self.assertEqual(times, sorted(times), "time never goes back")
        self.assertGreater(max(rss), 95 * 1024, rss)
        # The peak is the module's alone: not `timeout` and GNU time around it
        # (about 2.5 MiB together), nor the sampler's perl (about 5 MiB), nor
        # the namespace's first shell.
        self.assertLessEqual(max(rss), own_peak, "the module's peak is %d KiB: %s" % (own_peak, rss))
        self.assertGreater(max(rss), own_peak - 1024, "the module's peak is %d KiB: %s" % (own_peak, rss))
        # After the fall: the allocating interpreter alone (about 10 MiB).
        print("sampled RSS, KiB:", rss[peak:][-3:], file=sys.stderr)
        self.assertLess(min(rss[peak:]), 16 * 1024, "it falls after the peak: %s" % rss)
        self.assertGreater(records[-1][0], 900, "it samples until it is killed")
        # Every 10 ms for 80 ms, then an eighth of the time so far: about 29
        # samples in 1.1 s (fewer when the host is busy), not one per 10 ms.
        self.assertLess(len(records), 40, records)
        self.assertGreater(len(records), 12, records)

if __name__ == "__main__":
    unittest.main()
