"""Tests of harness.py: each runs the harness as a subprocess on small modules written to
a temporary directory, and checks its exit code, its output and its trailer line.

Run on the host with `python3 xtask/tests/harness/test_harness.py` (stdlib unittest). The
interpreter the harness runs under is $HARNESS_PYTHON, or this one: point it at a debug
build (python3.11d) to check the reference counts, or at an interpreter with pytest for
the pytest tests (they skip, saying so, where pytest cannot be imported).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.join(HERE, "..", "..", "container", "harness.py")
PYTHON = os.environ.get("HARNESS_PYTHON") or sys.executable
MARKER = "@@pymaccounter-harness "


def interpreter_can(code):
    """True when PYTHON runs `code` without error."""
    done = subprocess.run([PYTHON, "-c", code], capture_output=True)
    return done.returncode == 0


HAS_PYTEST = interpreter_can("import pytest")
if os.environ.get("HARNESS_REQUIRE_PYTEST") and not HAS_PYTEST:
    sys.exit("HARNESS_REQUIRE_PYTEST is set but %s cannot import pytest" % PYTHON)
DEBUG_BUILD = interpreter_can("import sys; sys.gettotalrefcount")


class Run:
    """One finished harness run: exit code, outputs and the parsed trailer."""

    def __init__(self, done):
        self.code = done.returncode
        self.stdout = done.stdout
        self.stderr = done.stderr
        lines = done.stderr.split("\n")
        assert lines[-1] == "", "stderr must end with the trailer's newline: %r" % lines[-3:]
        last = lines[-2]
        assert last.count(MARKER) == 1, "the last stderr line must hold the marker once: %r" % last
        before, _, payload = last.partition(MARKER)
        self.text_before_marker = before
        self.trailer = json.loads(payload)
        if "--report-all" not in done.args:
            assert len(last.encode()) + 1 < 24 * 1024, "trailer over 24 KiB"
        # Everything before the trailer: what a user sees.
        self.output = "\n".join(lines[:-2] + [before])

    def names(self):
        return [test["name"] for test in self.trailer["tests"]]

    def test(self, name):
        for test in self.trailer["tests"]:
            if test["name"] == name:
                return test
        raise AssertionError("no test %r in %r" % (name, self.names()))


class HarnessCase(unittest.TestCase):
    """A temporary module directory and a scratch working directory per test."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="harness-test-")
        self.addCleanup(shutil.rmtree, self.root, True)
        self.modules = os.path.join(self.root, "modules")
        self.scratch = os.path.join(self.root, "scratch")
        os.mkdir(self.modules)
        os.mkdir(self.scratch)

    def write(self, name, source):
        path = os.path.join(self.modules, name)
        with open(path, "w", encoding="utf-8") as file:
            file.write(textwrap.dedent(source))
        return path

    def harness(self, *arguments, timeout=120):
        done = subprocess.run(
            [PYTHON, HARNESS] + list(arguments),
            cwd=self.scratch,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Run(done)

    def assertCode(self, run, code):
        self.assertEqual(run.code, code, "exit code; stderr was:\n" + run.stderr)

    def snapshot(self):
        """Every path under the module directory, to show nothing was written there."""
        found = set()
        for directory, subdirs, files in os.walk(self.modules):
            for name in subdirs + files:
                found.add(os.path.relpath(os.path.join(directory, name), self.modules))
        return found


UNITTEST_ONE_PASS_ONE_FAIL = """\
    import unittest

    class TestArithmetic(unittest.TestCase):
        def test_adds(self):
            self.assertEqual(1 + 1, 2)

        def test_multiplies(self):
            self.assertEqual(2 * 3, 7)
    """


class UnittestMode(HarnessCase):
    def test_module_without_main_guard_fails_with_both_names_and_the_message(self):
        path = self.write("test_arith.py", UNITTEST_ONE_PASS_ONE_FAIL)
        run = self.harness("--mode", "unittest", path)
        self.assertCode(run, 1)
        self.assertEqual(run.trailer["harness"], "unittest")
        self.assertEqual(
            sorted(run.names()), ["TestArithmetic.test_adds", "TestArithmetic.test_multiplies"]
        )
        self.assertEqual(run.test("TestArithmetic.test_adds")["outcome"], "passed")
        failed = run.test("TestArithmetic.test_multiplies")
        self.assertEqual(failed["outcome"], "failed")
        self.assertEqual(failed["message"], "AssertionError: 6 != 7")
        self.assertEqual(run.trailer["counts"]["passed"], 1)
        self.assertEqual(run.trailer["counts"]["failed"], 1)
        self.assertFalse(run.trailer["truncated"])
        self.assertIsNone(run.trailer["hunt_leaks"])
        # unittest's own human report, verbose so the names show.
        self.assertIn("test_multiplies", run.output)
        self.assertIn("FAILED (failures=1)", run.output)

    def test_all_passing_exits_0(self):
        path = self.write("test_ok.py", "import unittest\nclass T(unittest.TestCase):\n    def test_a(self): pass\n")
        run = self.harness("--mode", "unittest", path)
        self.assertCode(run, 0)
        self.assertEqual(run.trailer["counts"]["passed"], 1)
        self.assertIsNone(run.trailer["error"])

    def test_no_tests_exits_5(self):
        path = self.write("test_empty.py", "import unittest\nVALUE = 1\n")
        run = self.harness("--mode", "unittest", path)
        self.assertCode(run, 5)
        self.assertEqual(run.trailer["tests"], [])
        self.assertEqual(run.trailer["error"], "no tests ran")

    def test_k_selects_one_test(self):
        path = self.write("test_arith.py", UNITTEST_ONE_PASS_ONE_FAIL)
        run = self.harness("--mode", "unittest", path, "-k", "adds")
        self.assertCode(run, 0)
        self.assertEqual(run.names(), ["TestArithmetic.test_adds"])

    def test_k_selecting_nothing_exits_5(self):
        path = self.write("test_arith.py", UNITTEST_ONE_PASS_ONE_FAIL)
        run = self.harness("--mode", "unittest", path, "-k", "no_such_test")
        self.assertCode(run, 5)

    def test_test_names_as_arguments(self):
        path = self.write("test_arith.py", UNITTEST_ONE_PASS_ONE_FAIL)
        run = self.harness("--mode", "unittest", path, "TestArithmetic.test_multiplies")
        self.assertCode(run, 1)
        self.assertEqual(run.names(), ["TestArithmetic.test_multiplies"])

    def test_main_guard_does_not_run_and_argv_is_the_module(self):
        path = self.write(
            "test_guarded.py",
            """\
            import sys, unittest
            ARGV = list(sys.argv)
            class T(unittest.TestCase):
                def test_argv(self):
                    self.assertEqual(ARGV[0], %r)
                    self.assertEqual(sys.path[0], %r)
            if __name__ == "__main__":
                raise SystemExit("the main guard ran")
            """
            % (os.path.join(self.modules, "test_guarded.py"), self.modules),
        )
        run = self.harness("--mode", "unittest", path)
        self.assertCode(run, 0)
        self.assertNotIn("the main guard ran", run.output)

    def test_dotted_file_name_and_helper_import(self):
        self.write("helper_values.py", "ANSWER = 42\n")
        path = self.write(
            "test_multiply_gc.collect.py",
            """\
            import unittest
            import helper_values
            class T(unittest.TestCase):
                def test_answer(self):
                    self.assertEqual(helper_values.ANSWER, 42)
            """,
        )
        run = self.harness("--mode", "unittest", path)
        self.assertCode(run, 0)
        self.assertEqual(run.names(), ["T.test_answer"])

    def test_outcomes_skip_xfail_xpass_error_subtests(self):
        path = self.write(
            "test_kinds.py",
            """\
            import unittest
            class K(unittest.TestCase):
                @unittest.skip("not on this machine")
                def test_skip(self): pass
                @unittest.expectedFailure
                def test_xfail(self): self.assertTrue(False)
                @unittest.expectedFailure
                def test_xpass(self): pass
                def test_error(self): raise KeyError("k")
                def test_subtests(self):
                    for i in range(3):
                        with self.subTest(i=i):
                            self.assertLess(i, 1)
            """,
        )
        run = self.harness("--mode", "unittest", path)
        self.assertCode(run, 1)
        self.assertEqual(run.test("K.test_skip")["outcome"], "skipped")
        self.assertEqual(run.test("K.test_skip")["message"], "not on this machine")
        self.assertEqual(run.test("K.test_xfail")["outcome"], "xfailed")
        self.assertEqual(run.test("K.test_xpass")["outcome"], "xpassed")
        self.assertEqual(run.test("K.test_error")["outcome"], "error")
        self.assertEqual(run.test("K.test_error")["message"], "KeyError: 'k'")
        subtests = run.test("K.test_subtests")
        self.assertEqual(subtests["outcome"], "failed")
        self.assertIn("2 subtests failed", subtests["message"])
        self.assertIn("(i=1)", subtests["message"])
        counts = run.trailer["counts"]
        self.assertEqual(
            counts,
            {"passed": 0, "failed": 1, "errors": 1, "skipped": 1, "xfailed": 1, "xpassed": 1},
        )

    def test_import_error_is_a_failure_with_the_traceback(self):
        path = self.write("test_broken.py", "import unittest\nimport no_such_module_here\n")
        run = self.harness("--mode", "unittest", path)
        self.assertCode(run, 1)
        self.assertIn("Traceback (most recent call last):", run.output)
        self.assertNotIn("harness.py", run.output)
        self.assertIn("No module named 'no_such_module_here'", run.trailer["error"])

    def test_usage_error_exits_4(self):
        path = self.write("test_arith.py", UNITTEST_ONE_PASS_ONE_FAIL)
        run = self.harness("--mode", "unittest", path, "--no-such-option")
        self.assertCode(run, 4)
        self.assertIn("usage error", run.trailer["error"])

    def test_truncated_trailer_keeps_counts(self):
        path = self.write(
            "test_many.py",
            """\
            import unittest
            class T(unittest.TestCase):
                pass
            for i in range(400):
                def test(self, i=i):
                    self.fail("x" * 2000)
                setattr(T, "test_%03d" % i, test)
            """,
        )
        run = self.harness("--mode", "unittest", path, "-q")
        self.assertCode(run, 1)
        self.assertTrue(run.trailer["truncated"])
        self.assertEqual(run.trailer["counts"]["failed"], 400)
        self.assertLess(len(run.trailer["tests"]), 400)
        self.assertGreater(len(run.trailer["tests"]), 10)
        self.assertEqual(len(run.trailer["tests"][0]["message"]), 1000)


    def test_report_all_keeps_every_test_and_bounds_each_traceback(self):
        path = self.write(
            "test_many_all.py",
            """\
            import unittest
            class T(unittest.TestCase):
                def test_ok(self):
                    pass
            for i in range(400):
                def test(self, i=i):
                    self.fail("x" * 2000)
                setattr(T, "test_%03d" % i, test)
            def deep(self):
                raise ValueError("bottom" + "y" * 20000 + "end")
            T.test_deep = deep
            """,
        )
        run = self.harness("--mode", "unittest", "--report-all", path, "-q")
        self.assertCode(run, 1)
        self.assertFalse(run.trailer["truncated"])
        self.assertEqual(run.trailer["counts"]["failed"], 400)
        self.assertEqual(run.trailer["counts"]["errors"], 1)
        self.assertEqual(len(run.trailer["tests"]), 402)
        failing = [t for t in run.trailer["tests"] if t["outcome"] == "failed"]
        self.assertTrue(all("AssertionError" in t["traceback"] for t in failing))
        deep = run.test("T.test_deep")
        self.assertLessEqual(len(deep["traceback"]), 8000)
        self.assertIn("[... pymaccounter cut ", deep["traceback"])
        self.assertTrue(deep["traceback"].startswith("Traceback (most recent call last):"))
        self.assertTrue(deep["traceback"].endswith("yyyend"), deep["traceback"][-200:])


def deltas_all(values, predicate):
    return bool(values) and all(predicate(value) for value in values)


class HuntLeaks(HarnessCase):
    def hunt(self, source, spec="3:3", *extra, mode="script"):
        self.write("leak_keeper.py", "KEPT = []\n")
        path = self.write("module.py", source)
        return self.harness("--mode", mode, "--hunt-leaks", spec, path, *extra)

    def assertRefs(self, run, predicate):
        refs = run.trailer["hunt_leaks"]["refs"]
        if DEBUG_BUILD:
            self.assertTrue(deltas_all(refs, predicate), refs)
        else:
            self.assertIsNone(refs)
            self.assertIn("references are not measured", run.output)

    def test_reference_leak_shows_in_blocks_and_refs(self):
        run = self.hunt("import leak_keeper\nleak_keeper.KEPT.append(object())\nprint('ran')\n")
        self.assertCode(run, 0)
        leaks = run.trailer["hunt_leaks"]
        self.assertEqual((leaks["warmups"], leaks["runs"]), (3, 3))
        self.assertEqual(leaks["debug_build"], DEBUG_BUILD)
        self.assertEqual(len(leaks["blocks"]), 3)
        self.assertTrue(deltas_all(leaks["blocks"], lambda d: d >= 1), leaks)
        self.assertRefs(run, lambda d: d >= 1)
        self.assertEqual(leaks["fds"], [0, 0, 0])
        self.assertIsNone(leaks["failed_run"])
        # Each run printed, as W+R fresh `python3 module.py` runs would.
        self.assertEqual(run.stdout.count("ran\n"), 6)

    def test_descriptor_leak_shows_in_fds(self):
        run = self.hunt("import os\nos.open(os.devnull, os.O_RDONLY)\n", "2:4")
        self.assertCode(run, 0)
        leaks = run.trailer["hunt_leaks"]
        self.assertEqual(leaks["fds"], [1, 1, 1, 1])

    def test_stable_module_has_zero_deltas(self):
        run = self.hunt(
            """\
            import json, re, sys
            squares = [i * i for i in range(1000)]
            assert re.fullmatch(r"\\d+", str(sum(squares)))
            print(json.dumps({"n": len(squares), "argv": sys.argv[1:]}))
            if __name__ == "__main__":
                assert sys.argv[1:] == ["--flag", "value"], sys.argv
            """,
            "3:3",
            "--flag",
            "value",
        )
        self.assertCode(run, 0)
        leaks = run.trailer["hunt_leaks"]
        self.assertEqual(leaks["blocks"], [0, 0, 0])
        self.assertEqual(leaks["fds"], [0, 0, 0])
        self.assertRefs(run, lambda d: d == 0)
        self.assertIsNone(run.trailer["error"])

    def test_fresh_globals_each_run(self):
        run = self.hunt(
            """\
            assert "COUNTER" not in globals()
            COUNTER = 1
            import leak_keeper
            leak_keeper.KEPT.append(__name__)
            assert leak_keeper.KEPT == ["__main__"] * len(leak_keeper.KEPT)
            """,
            "1:2",
        )
        self.assertCode(run, 0)

    def test_failure_on_the_first_run_is_no_leak_data(self):
        run = self.hunt("def divide():\n    return 1 / 0\ndivide()\n")
        self.assertCode(run, 1)
        leaks = run.trailer["hunt_leaks"]
        self.assertEqual(leaks["failed_run"], 1)
        self.assertEqual(leaks["blocks"], [])
        self.assertEqual(leaks["fds"], [])
        self.assertIn("ZeroDivisionError: division by zero", run.trailer["error"])
        # The traceback as `python3 module.py` prints it: no harness or runpy frames.
        self.assertIn("Traceback (most recent call last):", run.output)
        self.assertIn('module.py", line 3, in <module>', run.output)
        self.assertNotIn("harness.py", run.output)
        self.assertNotIn("runpy", run.output)

    def test_failure_on_a_later_run_names_the_run(self):
        run = self.hunt(
            """\
            import leak_keeper
            leak_keeper.KEPT.append(1)
            if len(leak_keeper.KEPT) == 4:
                raise SystemExit(3)
            """
        )
        self.assertCode(run, 3)
        self.assertEqual(run.trailer["hunt_leaks"]["failed_run"], 4)
        self.assertIn("run 4 of 6", run.trailer["error"])

    def test_exit_77_is_a_skip(self):
        run = self.hunt("import sys\nsys.exit(77)\n")
        self.assertCode(run, 77)
        self.assertIsNone(run.trailer["hunt_leaks"]["failed_run"])

    def test_unittest_leak_and_stable(self):
        leaking = self.hunt(
            """\
            import unittest, leak_keeper
            class T(unittest.TestCase):
                def test_keeps(self):
                    leak_keeper.KEPT.append(object())
            """,
            "3:3",
            mode="unittest",
        )
        self.assertCode(leaking, 0)
        self.assertEqual(leaking.names(), ["T.test_keeps"])
        keeps = leaking.test("T.test_keeps")["hunt_leaks"]
        self.assertTrue(deltas_all(keeps["blocks"], lambda d: d >= 1), keeps)
        # unittest's report once, not six times.
        self.assertEqual(leaking.output.count("Ran 1 test"), 1)

        stable = self.hunt(
            """\
            import unittest
            class T(unittest.TestCase):
                def test_equal(self):
                    self.assertEqual([1, 2, 3], [1, 2, 3])
            """,
            "3:3",
            mode="unittest",
        )
        self.assertCode(stable, 0)
        equal = stable.test("T.test_equal")["hunt_leaks"]
        self.assertEqual((equal["blocks"], equal["fds"]), ([0, 0, 0], [0, 0, 0]))

    def test_unittest_is_hunted_per_test_and_a_failing_test_has_no_deltas(self):
        run = self.hunt(UNITTEST_ONE_PASS_ONE_FAIL, "2:2", mode="unittest")
        self.assertCode(run, 1)
        self.assertTrue(run.trailer["hunt_leaks"]["per_test"])
        self.assertIsNone(run.trailer["hunt_leaks"]["failed_run"])
        self.assertEqual(run.test("TestArithmetic.test_multiplies")["outcome"], "failed")
        self.assertNotIn("hunt_leaks", run.test("TestArithmetic.test_multiplies"))
        adds = run.test("TestArithmetic.test_adds")
        self.assertEqual(adds["hunt_leaks"]["blocks"], [0, 0])
        self.assertEqual(adds["hunt_leaks"]["fds"], [0, 0])
        # The runner's result saw each test once.
        self.assertEqual(run.trailer["counts"]["passed"] + run.trailer["counts"]["failed"], 2)

    def test_unittest_per_test_deltas_point_at_the_leaking_test(self):
        self.write("leak_keeper.py", "KEPT = []\n")
        source = textwrap.dedent(
            """\
            import os, unittest, leak_keeper

            class T(unittest.TestCase):
                @classmethod
                def setUpClass(cls):
                    cls.shared = os.open(os.devnull, os.O_RDONLY)

                @classmethod
                def tearDownClass(cls):
                    os.close(cls.shared)

                def setUp(self):
                    self.fresh = [object() for _ in range(10)]

                def test_keeps(self):
                    leak_keeper.KEPT.append(object())

                def test_opens(self):
                    os.open(os.devnull, os.O_RDONLY)

                def test_clean(self):
                    self.assertEqual(len(self.fresh), 10)
            """
        )
        run = self.hunt(source, "2:3", mode="unittest")
        self.assertCode(run, 0)
        keeps = run.test("T.test_keeps")["hunt_leaks"]
        self.assertTrue(deltas_all(keeps["blocks"], lambda d: d >= 1), keeps)
        self.assertEqual(run.test("T.test_opens")["hunt_leaks"]["fds"], [1, 1, 1])
        clean = run.test("T.test_clean")["hunt_leaks"]
        self.assertEqual((clean["blocks"], clean["fds"]), ([0, 0, 0], [0, 0, 0]), "setUpClass's descriptor is outside")
        if DEBUG_BUILD:
            self.assertEqual(clean["refs"], [0, 0, 0])

    def test_a_later_run_that_fails_fails_the_test_naming_the_run(self):
        source = textwrap.dedent(
            """\
            import unittest
            RUNS = []

            class T(unittest.TestCase):
                def test_third_time(self):
                    RUNS.append(1)
                    self.assertLess(len(RUNS), 3)
            """
        )
        run = self.hunt(source, "1:3", mode="unittest")
        self.assertCode(run, 1)
        test = run.test("T.test_third_time")
        self.assertEqual(test["outcome"], "failed")
        self.assertTrue(test["message"].startswith("run 3 of 4: AssertionError"), test["message"])
        self.assertNotIn("hunt_leaks", test)

    def test_release_extensions_are_named_on_a_debug_build_only(self):
        run = self.hunt("import json, decimal\n")
        self.assertCode(run, 0)
        # The interpreter's own extension modules (its lib-dynload) never count.
        self.assertIsNone(run.trailer["hunt_leaks"]["release_extensions"])
        self.assertNotIn("not trusted", run.output)


    def test_bad_spec_is_a_usage_error(self):
        path = self.write("module.py", "pass\n")
        for spec in ("3", "a:b", "2:0", "-1:3"):
            run = self.harness("--mode", "script", "--hunt-leaks", spec, path)
            self.assertCode(run, 4)
            self.assertIn("--hunt-leaks", run.trailer["error"])


def load_harness():
    import importlib.util

    spec = importlib.util.spec_from_file_location("pymaccounter_harness", HARNESS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ReleaseExtensions(unittest.TestCase):
    """The rule that tells a release-built extension module in a debug interpreter."""

    OWN = ".cpython-311d-x86_64-linux-gnu.so"
    SITE = "/env/lib/python3.11/site-packages/"

    def classify(self, modules, mapped):
        return load_harness().classify_extensions(modules, mapped, self.OWN)

    def test_the_interpreters_own_suffix_is_trusted(self):
        own = "/usr/lib/python3.11/lib-dynload/_json" + self.OWN
        self.assertIsNone(self.classify([("_json", own)], [own, "/usr/lib/libc.so.6"]))

    def test_release_tagged_and_plain_extension_modules_are_named(self):
        numpy = self.SITE + "numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so"
        plain = self.SITE + "handmade.so"
        found = self.classify(
            [("numpy._core._multiarray_umath", numpy), ("handmade", plain)],
            [numpy, plain, self.SITE + "numpy.libs/libscipy_openblas64_-6bb31eeb.so"],
        )
        # The plain library beside numpy is no extension module: not counted.
        self.assertEqual(found, {"count": 2, "names": ["handmade", "numpy._core._multiarray_umath"]})

    def test_mapped_modules_dropped_from_sys_modules_still_count(self):
        dropped = self.SITE + "pyarrow/lib.cpython-311-x86_64-linux-gnu.so (deleted)"
        limited = self.SITE + "x/_speedups.abi3.so"
        found = self.classify([], [dropped, limited, "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13"])
        self.assertEqual(found["count"], 2)
        self.assertEqual(found["names"], ["_speedups.abi3.so", "lib.cpython-311-x86_64-linux-gnu.so"])

    def test_the_names_are_bounded_and_the_count_whole(self):
        paths = [self.SITE + "m%02d%s.cpython-311-x86_64-linux-gnu.so" % (i, "x" * 200) for i in range(20)]
        found = self.classify([], paths)
        self.assertEqual(found["count"], 20)
        self.assertEqual(len(found["names"]), 8)
        self.assertTrue(all(len(name) <= 120 for name in found["names"]), found["names"])


class ScriptMode(HarnessCase):
    def test_exit_codes_as_python_gives_them(self):
        cases = [
            ("pass\n", 0),
            ("raise SystemExit\n", 0),
            ("raise SystemExit(9)\n", 9),
            ("raise SystemExit('bye')\n", 1),
            ("raise ValueError('v')\n", 1),
        ]
        for source, code in cases:
            with self.subTest(source=source):
                path = self.write("script.py", source)
                run = self.harness("--mode", "script", path)
                self.assertCode(run, code)
                self.assertIsNone(run.trailer["hunt_leaks"])
                if source.startswith("raise SystemExit('bye')"):
                    # Python prints a non-int exit code on stderr.
                    self.assertIn("bye", run.output)

    def test_trailer_after_atexit_and_stderr_without_newline(self):
        path = self.write(
            "script.py",
            """\
            import atexit, sys
            atexit.register(lambda: sys.stderr.write("atexit ran, no newline @ end"))
            print("body ran", file=sys.stderr)
            """,
        )
        run = self.harness("--mode", "script", path)
        self.assertCode(run, 0)
        self.assertTrue(run.output.endswith("body ran\natexit ran, no newline @ end"), run.output)
        self.assertEqual(run.text_before_marker, "atexit ran, no newline @ end")

    def test_message_with_the_marker_does_not_break_the_trailer(self):
        path = self.write("script.py", "raise RuntimeError('@@pymaccounter-harness {}')\n")
        run = self.harness("--mode", "script", path)
        self.assertCode(run, 1)
        self.assertEqual(run.trailer["error"], "RuntimeError: @@pymaccounter-harness {}")

    def test_keyboard_interrupt_still_writes_the_trailer(self):
        path = self.write(
            "script.py",
            "import sys, time\nprint('ready', flush=True)\nwhile True:\n    time.sleep(0.05)\n",
        )
        process = subprocess.Popen(
            [PYTHON, HARNESS, "--mode", "script", "--hunt-leaks", "1:1", path],
            cwd=self.scratch,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # Python turns SIGINT into KeyboardInterrupt only when it starts
            # with SIGINT at its default, as in a container; tests started in
            # the background (`cmd &` in a script, CI) inherit it ignored.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.assertEqual(process.stdout.readline(), "ready\n")
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
        run = Run(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
        self.assertCode(run, 130)
        self.assertIn("KeyboardInterrupt", run.trailer["error"])

    def test_missing_module_and_missing_mode(self):
        run = self.harness("--mode", "script", os.path.join(self.modules, "absent.py"))
        self.assertCode(run, 4)
        self.assertIn("absent.py", run.trailer["error"])
        run = self.harness(self.write("x.py", "pass\n"))
        self.assertCode(run, 4)
        self.assertIn("--mode", run.trailer["error"])


PYTEST_ONE_PASS_ONE_FAIL = """\
    import pytest

    def test_passes():
        assert 1 + 1 == 2

    def test_fails():
        assert 1 == 2

    class TestGroup:
        @pytest.mark.parametrize("n", [1, 2])
        def test_param(self, n, tmp_path):
            (tmp_path / "out.txt").write_text("x")
            assert n == 1

        @pytest.mark.skip(reason="not here")
        def test_skipped(self):
            pass

        @pytest.mark.xfail(reason="known")
        def test_xfail(self):
            assert False
    """


@unittest.skipUnless(HAS_PYTEST, "pytest is not importable by " + PYTHON)
class PytestMode(HarnessCase):
    def test_pass_and_fail_with_names_and_message(self):
        path = self.write("test_pt.py", PYTEST_ONE_PASS_ONE_FAIL)
        before = self.snapshot()
        run = self.harness("--mode", "pytest", path)
        self.assertCode(run, 1)
        self.assertEqual(run.trailer["harness"], "pytest")
        self.assertEqual(run.test("test_passes")["outcome"], "passed")
        failed = run.test("test_fails")
        self.assertEqual(failed["outcome"], "failed")
        self.assertEqual(failed["message"], "AssertionError: assert 1 == 2")
        self.assertEqual(run.test("TestGroup::test_param[1]")["outcome"], "passed")
        self.assertEqual(run.test("TestGroup::test_param[2]")["outcome"], "failed")
        self.assertEqual(run.test("TestGroup::test_skipped")["message"], "not here")
        self.assertEqual(run.test("TestGroup::test_xfail")["outcome"], "xfailed")
        self.assertEqual(
            run.trailer["counts"],
            {"passed": 2, "failed": 2, "errors": 0, "skipped": 1, "xfailed": 1, "xpassed": 0},
        )
        # Which pytest ran: the one this interpreter imports, and its package's folder.
        version, folder = subprocess.run(
            [PYTHON, "-c", "import os, pytest; print(pytest.__version__); print(os.path.dirname(pytest.__file__))"],
            capture_output=True, text=True, check=True,
        ).stdout.split()
        self.assertEqual(run.trailer["pytest"], {"version": version, "path": folder})
        # Nothing written beside the module (no cache, no __pycache__, no basetemp),
        # nothing left in the scratch directory either.
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(os.listdir(self.scratch), [])

    def test_no_tests_exits_5(self):
        path = self.write("test_none.py", "VALUE = 1\n")
        run = self.harness("--mode", "pytest", path)
        self.assertCode(run, 5)
        self.assertIn("no tests ran", run.trailer["error"])

    def test_k_selects_one_test(self):
        path = self.write("test_pt.py", PYTEST_ONE_PASS_ONE_FAIL)
        run = self.harness("--mode", "pytest", path, "-k", "passes")
        self.assertCode(run, 0)
        self.assertEqual(run.names(), ["test_passes"])

    def test_usage_error_exits_4(self):
        path = self.write("test_pt.py", PYTEST_ONE_PASS_ONE_FAIL)
        run = self.harness("--mode", "pytest", path, "--no-such-pytest-option")
        self.assertCode(run, 4)

    def test_collection_error_is_an_error_entry(self):
        path = self.write("test_broken.py", "import no_such_module_here\n")
        run = self.harness("--mode", "pytest", path)
        self.assertCode(run, 2)
        self.assertEqual(run.trailer["counts"]["errors"], 1)
        self.assertIn("no_such_module_here", run.trailer["tests"][0]["message"])

    def test_dotted_name_conftest_and_helper(self):
        self.write("conftest.py", "import pytest\n@pytest.fixture\ndef answer():\n    return 42\n")
        self.write("helper_values.py", "ANSWER = 42\n")
        path = self.write(
            "test_multiply_gc.collect.py",
            "import helper_values\ndef test_answer(answer):\n    assert answer == helper_values.ANSWER\n",
        )
        run = self.harness("--mode", "pytest", path)
        self.assertCode(run, 0)
        self.assertEqual(run.names(), ["test_answer"])

    def test_hunt_leaks_per_test_with_fixtures_of_every_scope(self):
        self.write("leak_keeper.py", "KEPT = []\n")
        source = textwrap.dedent(
            """\
            import os, pytest, leak_keeper
            SETUPS = []

            @pytest.fixture(scope="module")
            def shared():
                fd = os.open(os.devnull, os.O_RDONLY)
                yield fd
                os.close(fd)

            @pytest.fixture
            def fresh():
                SETUPS.append(1)
                yield len(SETUPS)
                SETUPS.pop()

            def test_clean(shared, fresh):
                assert fresh == 1

            @pytest.mark.parametrize("n", [0, 1])
            def test_keeps(n):
                if n:
                    leak_keeper.KEPT.append(object())

            def test_third_time_fails():
                leak_keeper.KEPT.append(None)
                assert leak_keeper.KEPT.count(None) < 3

            def test_last(shared):
                pass
            """
        )
        path = self.write("test_pt.py", source)
        run = self.harness("--mode", "pytest", "--hunt-leaks", "2:3", path)
        self.assertCode(run, 1)
        self.assertTrue(run.trailer["hunt_leaks"]["per_test"])
        clean = run.test("test_clean")["hunt_leaks"]
        self.assertEqual((clean["blocks"], clean["fds"]), ([0, 0, 0], [0, 0, 0]), clean)
        kept = run.test("test_keeps[1]")["hunt_leaks"]
        self.assertTrue(deltas_all(kept["blocks"], lambda d: d >= 1), kept)
        self.assertEqual(run.test("test_keeps[0]")["hunt_leaks"]["blocks"], [0, 0, 0])
        failing = run.test("test_third_time_fails")
        self.assertEqual(failing["outcome"], "failed")
        self.assertTrue(failing["message"].startswith("run 3 of 5: "), failing["message"])
        self.assertNotIn("hunt_leaks", failing)
        # The module fixture's descriptor closes after the last test, outside its runs.
        self.assertEqual(run.test("test_last")["hunt_leaks"]["fds"], [0, 0, 0])
        self.assertEqual(run.trailer["counts"], dict(run.trailer["counts"], passed=4, failed=1))

    def test_each_test_has_its_peak_and_the_process_peak_survives_the_resets(self):
        source = textwrap.dedent(
            """\
            def test_small():
                bytearray(1 << 20)

            def test_big():
                bytearray(64 << 20)

            def test_none():
                pass
            """
        )
        path = self.write("test_pt.py", source)
        run = self.harness("--mode", "pytest", path)
        self.assertCode(run, 0)
        big = run.test("test_big")["peak_bytes"]
        self.assertTrue(60 << 20 < big < 70 << 20, big)
        self.assertLess(run.test("test_small")["peak_bytes"], 4 << 20)
        self.assertGreater(run.trailer["peak_rss_bytes"], big)


class PytestMissing(HarnessCase):
    def test_missing_pytest_exits_4_saying_so(self):
        # A pytest.py beside the module shadows any installed pytest and fails to import.
        self.write("pytest.py", "raise ImportError('simulated: no pytest here')\n")
        path = self.write("test_pt.py", "def test_x():\n    pass\n")
        run = self.harness("--mode", "pytest", path)
        self.assertCode(run, 4)
        self.assertIn("python3-pytest", run.trailer["error"])
        self.assertIn("pytest is not installed", run.output)


class PerTestCaptures(unittest.TestCase):
    """memray_summary.py reads pytest-memray's per-test captures from a folder the module
    could write: its own regular *.bin files alone, bounded, never through a link."""

    def setUp(self):
        import importlib.util

        path = os.path.join(HERE, "..", "..", "container", "memray_summary.py")
        spec = importlib.util.spec_from_file_location("memray_summary", path)
        self.summary = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.summary)
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)

    def captures(self, folder):
        notes = []
        descriptors = self.summary.test_captures(folder, notes)
        sizes = sorted(os.fstat(fd).st_size for fd in descriptors)
        for fd in descriptors:
            os.close(fd)
        return sizes, notes

    def test_only_regular_bin_files_of_the_folder_itself_within_bounds(self):
        tests = os.path.join(self.dir, "tests")
        os.mkdir(tests)
        for name, size in (("a.bin", 1), ("b.bin", 2), ("notes.json", 3)):
            with open(os.path.join(tests, name), "wb") as file:
                file.write(b"x" * size)
        os.mkdir(os.path.join(tests, "metadata"))
        outside = os.path.join(self.dir, "outside.bin")
        with open(outside, "wb") as file:
            file.write(b"secret")
        os.symlink(outside, os.path.join(tests, "link.bin"))
        os.mkfifo(os.path.join(tests, "fifo.bin"))
        with open(os.path.join(tests, "huge.bin"), "wb") as file:
            file.truncate(self.summary.MAX_TEST_CAPTURE_BYTES + 1)
        sizes, notes = self.captures(tests)
        self.assertEqual(sizes, [1, 2])
        self.assertEqual(len(notes), 1)
        self.assertIn("3 of pytest-memray's per-test captures left out", notes[0])
        # The folder itself as a link is not followed; no folder is no capture.
        os.symlink(tests, os.path.join(self.dir, "linked"))
        self.assertEqual(self.captures(os.path.join(self.dir, "linked")), ([], []))
        self.assertEqual(self.captures(os.path.join(self.dir, "missing")), ([], []))

    def test_at_most_so_many_are_read(self):
        self.summary.MAX_TEST_CAPTURES = 2
        for index in range(5):
            open(os.path.join(self.dir, "%d.bin" % index), "wb").close()
        sizes, notes = self.captures(self.dir)
        self.assertEqual(len(sizes), 2)
        self.assertIn("3 of pytest-memray's per-test captures left out", notes[0])


if __name__ == "__main__":
    unittest.main()
