"""Tests of monitor.pl on the host's perl (stdlib unittest): its buckets and their
file (fed samples with `--feed`), and real runs of it as the parent of a process
that allocates and frees, exits, dies by a signal or outlives its deadline, in a
fresh PID namespace when `unshare` can make one (else those tests skip, saying so).

Run with `python3 xtask/tests/harness/test_monitor.py`.
"""

import os
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CONTAINER = os.path.join(HERE, "..", "..", "container")
MONITOR = os.path.join(CONTAINER, "monitor.pl")
WIDTH = 32  # one record's bytes


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
            ["perl", MONITOR, "--feed", "8"], input=lines.encode(), stdout=self.file, stderr=subprocess.PIPE, check=True
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


def monitored(code, deadline=60, series="on", scratch=()):
    """Runs `python -c code` under the monitor in a PID namespace whose first
    process plays the wrapper, as in a container (descriptor 5: the figures, 7:
    the series). The module's descriptor 4 is a file it may write to. Returns
    (the monitor's status, its figures line, the series records, what the module
    wrote on 4, the namespace's stdout)."""
    with tempfile.TemporaryFile() as figures, tempfile.TemporaryFile() as records, tempfile.TemporaryFile() as said:
        # Above the ones the shell sets, so that no redirection reads another's result.
        high = tuple(os.dup2(f.fileno(), 20 + i) for i, f in enumerate((said, figures, records)))
        script = (
            'perl "$MONITOR" "$DEADLINE" "$SERIES" "" %s -- "$PYTHON" -c "$CODE" </dev/null 4>&%d 5>&%d 7>&%d 20>&- 21>&- 22>&-; '
            'echo "status=$?"; kill -KILL -1 2>/dev/null; wait'
            % (" ".join(scratch), *high)
        )
        done = subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", "bash", "-c", script],
            pass_fds=high,
            env=dict(os.environ, MONITOR=MONITOR, DEADLINE=str(deadline), SERIES=series, PYTHON=sys.executable, CODE=code),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            check=True,
        )
        for fd in high:
            os.close(fd)
        out = done.stdout.decode()
        status = int(out.rsplit("status=", 1)[1])
        figures.seek(0)
        records.seek(0)
        said.seek(0)
        data = records.read()
        return status, figures.read().decode(), parse(data) if data else [], said.read().decode(), out


@unittest.skipUnless(can_unshare(), "needs `unshare --pid --mount-proc` (root, or user namespaces)")
class RealRunTest(unittest.TestCase):
    """The monitor as the parent of real processes, as in a container."""

    def test_it_sees_the_rise_and_the_fall_and_not_itself_and_reports_the_kernels_peak(self):
        # The module says its own RSS at its peak (VmHWM) on descriptor 4.
        allocate = (
            "import mmap, os, time\n"
            "b = mmap.mmap(-1, 100 << 20)\n"
            "for o in range(0, 100 << 20, 4096): b[o] = 1\n"
            "time.sleep(0.5)\n"
            "os.write(4, [l for l in open('/proc/self/status', 'rb') if l.startswith(b'VmHWM')][0])\n"
            "b.close()\ntime.sleep(0.5)\n"
        )
        status, figures, records, said, _ = monitored(allocate)
        own_peak = int(said.split()[1])
        self.assertEqual(status, 0)
        exit_code, peak, elapsed = figures.split()
        self.assertEqual(exit_code, "0")
        # wait4's ru_maxrss is the kernel's high-water mark for the module: its VmHWM.
        self.assertLessEqual(abs(int(peak) - own_peak), 1024, (peak, own_peak))
        self.assertGreaterEqual(float(elapsed), 1.0)
        self.assertLess(float(elapsed), 5.0)
        rss = [r[1] for r in records]
        top = rss.index(max(rss))
        times = [r[0] for r in records]
        self.assertEqual(times, sorted(times), "time never goes back")
        self.assertGreater(max(rss), 95 * 1024, rss)
        # The peak is the module's alone: not the monitor's perl (about 5 MiB),
        # nor the namespace's first shell.
        self.assertLessEqual(max(rss), own_peak, "the module's peak is %d KiB: %s" % (own_peak, rss))
        self.assertGreater(max(rss), own_peak - 1024, "the module's peak is %d KiB: %s" % (own_peak, rss))
        # After the fall: the allocating interpreter alone (about 10 MiB).
        print("sampled RSS, KiB:", rss[top:][-3:], file=sys.stderr)
        self.assertLess(min(rss[top:]), 16 * 1024, "it falls after the peak: %s" % rss)
        self.assertGreater(records[-1][0], 900, "it samples until the module ends")
        # Not at once (the module is still being exec'd) nor once it has ended
        # unreaped (a zombie's RSS is 0): no sample says the module held nothing.
        self.assertGreaterEqual(times[0], 10, records)
        self.assertGreater(min(rss), 0, records)
        # Every 10 ms for 80 ms, then an eighth of the time so far: about 29
        # samples in 1.1 s (fewer when the host is busy), not one per 10 ms.
        self.assertLess(len(records), 40, records)
        self.assertGreater(len(records), 12, records)

    def test_the_module_inherits_none_of_its_descriptors_and_its_scratch_files_are_gone(self):
        with tempfile.TemporaryDirectory() as folder:
            scratch = [os.path.join(folder, name) for name in ("a", "b")]
            for path in scratch:
                open(path, "w").close()
            listing = "import os; os.write(4, ' '.join(sorted(os.listdir('/proc/self/fd'))).encode())"
            status, figures, _, said, _ = monitored(listing, scratch=scratch)
            self.assertEqual(os.listdir(folder), [], "unlinked before the module ran")
        self.assertEqual(status, 0)
        # 0-2, 4 (given to it), and the descriptor its listing opened: not 5 or 7.
        self.assertEqual(said.split(), ["0", "1", "2", "3", "4"], said)
        self.assertEqual(len(figures.split()), 3, figures)

    def test_exit_codes_and_signals_come_through_as_gnu_time_and_timeout_gave_them(self):
        status, figures, _, _, _ = monitored("raise SystemExit(3)", series="off")
        self.assertEqual((status, figures.split()[0]), (3, "3"))
        status, figures, records, _, _ = monitored("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", series="off")
        self.assertEqual((status, figures.split()[0]), (128 + 11, "0"))
        self.assertEqual(records, [], "no series when it is off")
        with open(os.devnull, "w") as null:
            done = subprocess.run(
                ["bash", "-c", 'exec perl "$0" 60 off "" -- /nonexistent/python 5>&%d 7>&%d' % (null.fileno(), null.fileno()), MONITOR],
                pass_fds=(null.fileno(),),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        self.assertEqual(done.returncode, 127, done.stderr)
        self.assertIn(b"cannot run /nonexistent/python", done.stderr)

    def test_a_module_that_ends_at_once_has_no_sample_of_nothing(self):
        for _ in range(5):
            status, figures, records, _, _ = monitored("pass")
            self.assertEqual(status, 0)
            self.assertEqual(figures.split()[0], "0")
            self.assertTrue(all(r[1] > 0 for r in records), records)

    def test_at_the_deadline_it_exits_124_at_once_with_no_figures(self):
        started = time.monotonic()
        status, figures, records, _, _ = monitored("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)", deadline=1)
        self.assertEqual(status, 124)
        self.assertEqual(figures, "")
        self.assertLess(time.monotonic() - started, 10)
        self.assertGreater(records[-1][0], 500, records)

    def test_a_module_ending_is_seen_at_once_whatever_the_sampling_period(self):
        # At 3 s the sampler sleeps about 0.4 s between samples; the module's
        # end must not wait for the next one.
        status, figures, _, _, _ = monitored("import time; time.sleep(3.05)")
        self.assertEqual(status, 0)
        self.assertLess(float(figures.split()[2]), 3.3, figures)


if __name__ == "__main__":
    unittest.main()
