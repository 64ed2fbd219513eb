"""pymaccounter's in-container harness: runs one Python test module under unittest,
under pytest, or as a script hunted for leaks, and ends stderr with one trailer line.

It is copied into the test image as /opt/pymaccounter/harness.py and started by the
Rust runner, one module per container (plain scripts without leak hunting do not use
it: the runner starts `python3 MODULE` itself). Standard library only; it runs on
CPython 3.9 and newer, release or debug builds (python3.11d).

Invocation:

    python3 harness.py --mode unittest|pytest|script [--hunt-leaks W:R] [--report-fd N]
                       [--report-all] MODULE_PATH [ARGS...]

The module's directory becomes sys.path[0] and sys.argv is [MODULE_PATH, *ARGS]. The
module is loaded by path, so file names holding dots (test_a.b.py) work.

  unittest   the module is imported (not as __main__, its main guard does not run) and
             its tests run as `python -m unittest` runs them; ARGS are unittest's own
             (-v, -q, -k PATTERN, -f, -b, -c, --locals, test names). Verbosity 2 unless
             ARGS say otherwise.
  pytest     pytest.main([MODULE_PATH, -p no:cacheprovider, --basetemp TMP, *ARGS]);
             TMP lives under $TMPDIR (or /tmp), never beside the module, and is removed
             at the end. A file stem holding a dot adds --import-mode=importlib (before
             ARGS), since pytest's default mode cannot import such a name.
  script     the module runs as `python3 MODULE_PATH ARGS` would run it.

--hunt-leaks W:R runs the module's code W+R times in this one interpreter: a script each
time with fresh module globals (runpy.run_path as __main__); under unittest and pytest
each test W+R times in a row (pytest-leaks' way), its function-level fixtures (setUp,
function-scoped fixtures) anew each time and wider ones (setUpClass, module- and
session-scoped fixtures) once, the first run reported as usual, a later run only when it
fails; the deltas are then each test's ("hunt_leaks" on its entry, "per_test" in the
hunt). After each run it restores what regrtest's -R restores, clears the caches regrtest clears, collects
garbage, and reads sys.gettotalrefcount() (debug builds), sys.getallocatedblocks() and
the number of open file descriptors. It reports the deltas of the last R runs; the
verdict is the caller's. On a debug build it also names the release-built extension
modules loaded by the end (release_extensions): their references escape
sys.gettotalrefcount(), so the reference deltas are not to be trusted then.

Exit codes:
  0    every test passed (skips and expected failures allowed); the script exited 0
  1    a test failed or errored; the script raised or the module failed to import
  2    pytest was interrupted
  3    pytest's internal error, or an error inside this harness
  4    usage error: bad harness arguments, framework usage error, pytest missing
  5    no tests ran (unittest found none, pytest collected none)
  77   the script (or the module, while unittest imports it) exited 77: skip. A module
       raising unittest.SkipTest while imported is a skipped module: exit 0.
  130  KeyboardInterrupt in modes script and unittest
  N    under --mode script, the script's own SystemExit code

Under unittest and pytest each test's own peak is in its entry ("peak_bytes"): the RSS
high-water mark (VmHWM) is reset before the test through /proc/self/clear_refs and read
after it, and the test's peak is its rise over the RSS at its start. Since each reset
lowers the mark the monitor reads at exit, the trailer also holds the highest mark read
before any reset ("peak_rss_bytes"): the file's peak is the larger of the two.

--memray-markers check|unchecked|record:DIR (pytest mode; the module uses pytest-memray's
limit_memory / limit_leaks): `check` runs pytest with --memray when pytest_memray can be
imported, and otherwise, like `unchecked` (the runner's --memray already records with
memray, which runs one tracker at a time; pytest-memray's plugin is then kept out),
registers the markers and says on stderr why they are not checked. `record:DIR` (the
runner's --memray, whose launcher started no tracker) checks them too, and has
pytest-memray keep every test's capture in DIR (--memray-bin-path) for the runner's memray
summary. A failure over a limit gets pytest-memray's top allocation in its message and its
list of allocations in its traceback.

--report-fd N writes the trailer to file descriptor N instead of stderr: the runner's
container gives the harness a descriptor of an unlinked file, a channel the module's
printed lines and written files never reach, so no line the module prints can pass for
the verdict, and a module that ends the interpreter early leaves no verdict at all.

Trailer: the last thing written to stderr (or to --report-fd), after every other output has been flushed and
after the interpreter's shutdown work (non-daemon threads joined, atexit handlers run), is
one line `@@pymaccounter-harness ` followed by compact ASCII JSON in which every "@" is
escaped as \\u0040, so the marker occurs exactly once on that line. If the module left
stderr without a final newline, the marker follows its text on the same line: read the
last line and split it at the marker. Under --mode pytest it also holds "pytest":
{"version", "path"}: the version of the pytest that ran and the folder it was imported
from (the project's environment, Debian's dist-packages, or the image's own). The line stays under 24 KiB; past that the test
list is cut and "truncated" is true (the counts stay complete).

--kill-strays (the runner's containers only: never where other processes of the user
live) SIGKILLs, once the module's code and the interpreter's shutdown work are done and
before the trailer is written, every process but this one and its ancestors (the
container's wrapper and its monitor), and waits until they are dead: a child the
module left running cannot rewrite the trailer after it was written. The trailer's file
(--report-fd) is emptied before it is written, so what such a child wrote there before
goes too.

--report-all lifts the 24 KiB bound: every test is in the line, each with its message
and its failure's traceback (each bounded: TRACEBACK_LIMIT characters, a marker line
saying how much was cut). The runner passes it when the wrapper copies the line into a
mounted file rather than onto stderr. Only past REPORT_ALL_LIMIT bytes (tens of
thousands of failing tests with long tracebacks) are tracebacks, then passing tests,
dropped, and "truncated" is true; the counts stay complete.
"""

import gc
import json
import os
import re
import sys
import time
import traceback

TRAILER_MARKER = "@@pymaccounter-harness "
# The runner keeps the last 32 KiB of stderr apart: the trailer fits in it.
# Failing tests go first when the list must be cut (their tracebacks too).
TRAILER_LIMIT = 24 * 1024 - 1  # bytes, the newline included
# With --report-all (the verdict leaves through a mounted file): the whole list, up to
# this many bytes; the runner reads at most 64 MiB of that file.
REPORT_ALL_LIMIT = 48 * 1024 * 1024
REPORT_ALL = False
KILL_STRAYS = False
MESSAGE_LIMIT = 1000
TRACEBACK_LIMIT = 8000
# Release-built extension modules named in the trailer, at most (all are counted),
# and the characters of each name.
EXTENSIONS_NAMED = 8
EXTENSION_NAME_LIMIT = 120

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERNAL = 3
EXIT_USAGE = 4
EXIT_NO_TESTS = 5
EXIT_SKIP = 77
EXIT_KEYBOARD_INTERRUPT = 130

COUNT_KEYS = {
    "passed": "passed",
    "failed": "failed",
    "error": "errors",
    "skipped": "skipped",
    "xfailed": "xfailed",
    "xpassed": "xpassed",
}
# When one test gets several outcomes (a failing teardown after a passing call, failing
# subtests), the highest ranked one is the test's outcome.
RANK = {"passed": 0, "skipped": 1, "xfailed": 2, "xpassed": 3, "failed": 4, "error": 5}

HARNESS_FILE = os.path.abspath(__file__)
USAGE = (
    "usage: harness.py --mode unittest|pytest|script [--hunt-leaks WARMUPS:RUNS] "
    "MODULE_PATH [ARGS...]"
)


class UsageError(Exception):
    """Bad harness arguments: exit 4 with the message."""


def say(text):
    """One line of the harness's own on stderr, marked as not the module's."""
    print("pymaccounter harness: " + text, file=sys.stderr, flush=True)


def clip(text, limit=MESSAGE_LIMIT):
    """The text cut to `limit` characters, an ellipsis marking the cut."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "\u2026"


def clip_traceback(text):
    """A traceback bounded to TRACEBACK_LIMIT characters: its head and its tail (where
    the exception is), with a marker line in between saying how much was cut."""
    if text is None or len(text) <= TRACEBACK_LIMIT:
        return text
    keep = TRACEBACK_LIMIT - 80
    head, tail = text[: keep // 2], text[-(keep - keep // 2) :]
    cut = len(text) - len(head) - len(tail)
    return "%s\n[... pymaccounter cut %d of %d characters ...]\n%s" % (head, cut, len(text), tail)


def first_line(text):
    """The first line of `text` that holds more than white space ('' if none)."""
    for line in text.splitlines():
        if line.strip():
            return line.rstrip()
    return ""


def one_liner(exc):
    """`Type: first line of the message`, the line a traceback ends with."""
    kind = type(exc)
    name = kind.__qualname__
    module = getattr(kind, "__module__", "builtins")
    if module not in ("builtins", "__main__") and not module.startswith(("_pytest", "pytest")):
        name = module + "." + name
    try:
        text = first_line(str(exc))
    except Exception:  # a __str__ that fails must not break the report
        text = "<unprintable message>"
    return clip(name + ": " + text if text else name)


def unique_names(tests):
    """The tests with every name made unique: a second and later test of the
    same name (equal TestCases, duplicate parametrize ids) gets ` [2]`, ` [3]`."""
    seen = {}
    named = []
    for test in tests:
        name = test["name"]
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            test = dict(test, name="%s [%d]" % (name, seen[name]))
        named.append(test)
    return named


def count(tests):
    """The counts object of the trailer for a list of test entries."""
    counts = {key: 0 for key in COUNT_KEYS.values()}
    for test in tests:
        counts[COUNT_KEYS[test["outcome"]]] += 1
    return counts


class Report:
    """What the trailer will say; filled in as the run goes."""

    def __init__(self, harness):
        self.harness = harness
        self.tests = []
        self.hunt_leaks = None
        self.error = None
        # Tests -k left out (they are not among `tests`).
        self.deselected = 0
        # pytest would leave the file out of its folder's collection here.
        self.not_collected = False
        # Under --mode pytest: the pytest that ran, {"version", "path"} (its package folder).
        self.pytest = None
        # The process's RSS high-water mark across the per-test resets (PeakMeter).
        self.peak_rss_bytes = None

    def trailer_line(self):
        """The trailer, marker included, newline excluded, under TRAILER_LIMIT bytes."""
        counts = count(self.tests)
        if self.deselected:
            counts["deselected"] = self.deselected
        body = {
            "harness": self.harness,
            "tests": [],
            "counts": counts,
            "truncated": False,
            "hunt_leaks": self.hunt_leaks,
            "error": clip(self.error),
            "not_collected": self.not_collected,
        }
        if self.pytest is not None:
            body["pytest"] = self.pytest
        if self.peak_rss_bytes is not None:
            body["peak_rss_bytes"] = self.peak_rss_bytes

        def dump(value):
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=True)
            return text.replace("@", "\\u0040")

        tests = unique_names(self.tests)
        if REPORT_ALL:
            return self.whole_line(body, tests, dump)
        # Without tracebacks first: as many tests as fit (failures and errors
        # before the others, which is what a reader needs), then the
        # tracebacks of the kept failures while room remains. The list keeps
        # the run's order, and the counts stay whole.
        encoded = [dump({k: v for k, v in t.items() if k != "traceback"}) for t in tests]
        room = TRAILER_LIMIT - len(TRAILER_MARKER) - len(dump(body))
        failing = [i for i, t in enumerate(tests) if t["outcome"] in ("failed", "error")]
        others = [i for i, t in enumerate(tests) if t["outcome"] not in ("failed", "error")]
        kept = []
        used = 0
        failure_left_out = False
        for index in failing + others:
            # Once a failure is left out, no other test takes the room it lacked.
            if failure_left_out and tests[index]["outcome"] not in ("failed", "error"):
                break
            if used + len(encoded[index]) + 1 > room:
                failure_left_out |= tests[index]["outcome"] in ("failed", "error")
                continue
            used += len(encoded[index]) + 1
            kept.append(index)
        for index in [i for i in failing if i in kept and tests[i].get("traceback")]:
            full = dump(tests[index])
            if used - len(encoded[index]) + len(full) <= room:
                used += len(full) - len(encoded[index])
                encoded[index] = full
        kept.sort()
        body["truncated"] = len(kept) < len(encoded)
        head = dump(body)
        cut = head.index('"tests":[') + len('"tests":[')
        return TRAILER_MARKER + head[:cut] + ",".join(encoded[i] for i in kept) + head[cut:]

    def whole_line(self, body, tests, dump):
        """The trailer with every test, tracebacks included, under REPORT_ALL_LIMIT
        bytes: past it (never for a real file's tests), tracebacks go first, then
        passing tests, and "truncated" says so."""
        encoded = [dump(t) for t in tests]
        room = REPORT_ALL_LIMIT - len(TRAILER_MARKER) - len(dump(body)) - 16
        used = sum(len(e) + 1 for e in encoded)
        if used > room:
            body["truncated"] = True
            for index in reversed(range(len(tests))):
                if used <= room:
                    break
                if tests[index].get("traceback"):
                    short = dump({k: v for k, v in tests[index].items() if k != "traceback"})
                    used += len(short) - len(encoded[index])
                    encoded[index] = short
            for index in reversed(range(len(tests))):
                if used <= room:
                    break
                if tests[index]["outcome"] not in ("failed", "error") and encoded[index]:
                    used -= len(encoded[index]) + 1
                    encoded[index] = None
            for index in reversed(range(len(tests))):
                if used <= room:
                    break
                if encoded[index]:
                    used -= len(encoded[index]) + 1
                    encoded[index] = None
        head = dump(body)
        cut = head.index('"tests":[') + len('"tests":[')
        kept = ",".join(e for e in encoded if e)
        return TRAILER_MARKER + head[:cut] + kept + head[cut:]


# --------------------------------------------------------------------------- arguments


def parse_arguments(argv):
    """(mode, hunt or None, module_path, args) from the harness's own argv; --report-fd
    sets REPORT_FD, --keyword KEYWORD, --report-all REPORT_ALL, --kill-strays KILL_STRAYS."""
    global REPORT_FD, KEYWORD, REPORT_ALL, KILL_STRAYS, MEMRAY_MARKERS, MEMRAY_CAPTURES
    mode = None
    hunt = None
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            index += 1
            break
        if not arg.startswith("--"):
            break
        if arg in ("--report-all", "--kill-strays"):
            if arg == "--report-all":
                REPORT_ALL = True
            else:
                KILL_STRAYS = True
            index += 1
            continue
        name, has_value, value = arg.partition("=")
        if name not in ("--mode", "--hunt-leaks", "--report-fd", "--keyword", "--memray-markers"):
            raise UsageError("unknown harness option %r" % arg)
        if not has_value:
            index += 1
            if index >= len(argv):
                raise UsageError("%s needs a value" % name)
            value = argv[index]
        if name == "--mode":
            if value not in ("unittest", "pytest", "script"):
                raise UsageError("--mode must be unittest, pytest or script, not %r" % value)
            mode = value
        elif name == "--memray-markers":
            kind, _, folder = value.partition(":")
            if value not in ("check", "unchecked") and not (kind == "record" and folder):
                raise UsageError("--memray-markers must be check, unchecked or record:DIR, not %r" % value)
            MEMRAY_MARKERS = kind
            MEMRAY_CAPTURES = folder or None
        elif name == "--keyword":
            keyword_matcher(value)  # a bad expression is a usage error here
            KEYWORD = value
        elif name == "--report-fd":
            if not value.isdigit():
                raise UsageError("--report-fd must be a file descriptor number, not %r" % value)
            REPORT_FD = int(value)
        else:
            hunt = parse_hunt(value)
        index += 1
    if mode is None:
        raise UsageError("--mode is required")
    if index >= len(argv):
        raise UsageError("MODULE_PATH is missing")
    return mode, hunt, argv[index], list(argv[index + 1 :])


def keyword_matcher(expression):
    """pytest's -k grammar (`or`, `and`, `not`, parentheses; a name matches a
    case-insensitive substring of any keyword): a function of the keywords."""
    tokens = re.findall(r"[()]|[^\s()]+", expression)
    position = [0]

    def peek():
        return tokens[position[0]] if position[0] < len(tokens) else None

    def take():
        position[0] += 1
        return tokens[position[0] - 1]

    def either():
        left = both()
        while peek() == "or":
            take()
            left = (lambda a, b: lambda words: a(words) or b(words))(left, both())
        return left

    def both():
        left = negation()
        while peek() == "and":
            take()
            left = (lambda a, b: lambda words: a(words) and b(words))(left, negation())
        return left

    def negation():
        token = peek()
        if token is None or token in (")", "and", "or"):
            raise UsageError("bad -k expression %r" % expression)
        take()
        if token == "not":
            inner = negation()
            return lambda words: not inner(words)
        if token == "(":
            inner = either()
            if peek() != ")":
                raise UsageError("bad -k expression %r" % expression)
            take()
            return inner
        name = token.lower()
        return lambda words: any(name in word.lower() for word in words)

    matcher = either()
    if peek() is not None:
        raise UsageError("bad -k expression %r" % expression)
    return matcher


def select_by_keyword(suite, module_path):
    """The suite's tests that -k selects, and how many it left out. A test's
    keywords, as pytest gives a TestCase's: method, class, file name."""
    import unittest

    if KEYWORD is None:
        return suite, 0
    matcher = keyword_matcher(KEYWORD)
    kept, left_out = [], 0

    def walk(node):
        nonlocal left_out
        if isinstance(node, unittest.TestSuite):
            for child in node:
                walk(child)
            return
        words = [getattr(node, "_testMethodName", str(node)), type(node).__name__, os.path.basename(module_path)]
        if matcher(words):
            kept.append(node)
        else:
            left_out += 1

    walk(suite)
    return unittest.TestSuite(kept), left_out


def parse_hunt(value):
    """(warmups, runs) from `W:R`, warmups >= 0 and runs >= 1."""
    warmups, colon, runs = value.partition(":")
    try:
        if not colon:
            raise ValueError
        warmups, runs = int(warmups), int(runs)
    except ValueError:
        raise UsageError("--hunt-leaks wants WARMUPS:RUNS, like 3:3, not %r" % value) from None
    if warmups < 0 or runs < 1:
        raise UsageError("--hunt-leaks wants WARMUPS >= 0 and RUNS >= 1, not %r" % value)
    return warmups, runs


def prepare_process(module_path, args):
    """sys.path[0] and sys.argv as `python3 MODULE_PATH ARGS` would set them."""
    if not os.path.isfile(module_path):
        raise UsageError("cannot open %r: no such file" % module_path)
    module_dir = os.path.dirname(os.path.abspath(module_path))
    # sys.path[0] is this harness's directory: the module's replaces it.
    sys.path[0] = module_dir
    sys.argv = [module_path] + list(args)


# --------------------------------------------------------------------------- tracebacks


def trimmed_traceback(tb):
    """`tb` without its leading frames from this harness, runpy and importlib, so a
    traceback prints as Python prints it for `python3 module.py`."""
    runpy = sys.modules.get("runpy")
    hidden = {HARNESS_FILE}
    if runpy is not None and getattr(runpy, "__file__", None):
        hidden.add(os.path.abspath(runpy.__file__))
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not filename.startswith("<frozen ") and os.path.abspath(filename) not in hidden:
            break
        tb = tb.tb_next
    return tb


def print_exception(exc):
    """Prints `exc` through sys.excepthook, as the interpreter does at exit."""
    # The hook prints the traceback the exception carries: trim that one.
    exc.__traceback__ = trimmed_traceback(exc.__traceback__)
    sys.excepthook(type(exc), exc, exc.__traceback__)


def system_exit_code(exc):
    """The process exit code Python gives a SystemExit, printing a non-int code as
    Python does."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    try:
        print(code, file=sys.stderr)
    except Exception:
        pass
    return 1


# --------------------------------------------------------------------------- loading


def module_name_for(module_path):
    """A name to import the module under: its file name's stem with every character
    that cannot be in an identifier replaced, prefixed when that name is taken."""
    stem = os.path.basename(module_path)
    if stem.endswith(".py"):
        stem = stem[:-3]
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in stem) or "module"
    if name[0].isdigit():
        name = "_" + name
    if name in sys.modules or name in sys.builtin_module_names:
        name = "pymaccounter_module_" + name
    return name


def load_module(module_path):
    """Imports the module from its path (not as __main__), registered in sys.modules."""
    import importlib.machinery
    import importlib.util

    name = module_name_for(module_path)
    loader = importlib.machinery.SourceFileLoader(name, os.path.abspath(module_path))
    spec = importlib.util.spec_from_file_location(name, loader.path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


# --------------------------------------------------------------------------- leak hunting


def fd_count():
    """Open file descriptors of this process, the one used to count them excluded."""
    try:
        return len(os.listdir("/proc/self/fd")) - 1
    except OSError:
        pass
    try:
        limit = os.sysconf("SC_OPEN_MAX")
    except (AttributeError, OSError, ValueError):
        limit = 256
    found = 0
    for fd in range(min(limit, 65536)):
        try:
            os.fstat(fd)
        except OSError:
            continue
        found += 1
    return found


def _is_abstract(cls):
    return isinstance(cls, type) and bool(cls.__flags__ & (1 << 20))


class RegrtestState:
    """What CPython's regrtest saves before -R and restores after every run
    (Lib/test/libregrtest/refleak.py, dash_R_cleanup), plus the process state a fresh
    `python3 module.py` would start with: argv, path, working directory, std streams."""

    def __init__(self):
        import collections.abc
        import copyreg
        import warnings

        from _abc import _get_dump

        self.filters = warnings.filters[:]
        self.dispatch_table = copyreg.dispatch_table.copy()
        self.path_importer_cache = sys.path_importer_cache.copy()
        try:
            import zipimport

            self.zip_cache = zipimport._zip_directory_cache.copy()
        except (ImportError, AttributeError):
            self.zip_cache = None
        self.abcs = {}
        for abc in self._abc_classes():
            for cls in self._with_subclasses(abc):
                self.abcs[cls] = _get_dump(cls)[0]
        self.argv = sys.argv[:]
        self.path = sys.path[:]
        self.cwd = os.getcwd()
        self.streams = (sys.stdin, sys.stdout, sys.stderr)

    @staticmethod
    def _with_subclasses(abc):
        """The ABC and those of its direct subclasses that are ABCs themselves: an
        extension type may subclass one without ABCMeta (pyarrow's KeyValueMetadata
        subclasses Mapping), and has no registry or caches of its own to restore."""
        import abc as abc_module

        return [cls for cls in abc.__subclasses__() if isinstance(cls, abc_module.ABCMeta)] + [abc]

    @staticmethod
    def _abc_classes():
        import collections.abc

        classes = [getattr(collections.abc, name) for name in collections.abc.__all__]
        return [cls for cls in classes if _is_abstract(cls)]

    def restore(self):
        """Puts the saved state back and clears the caches, as regrtest does between
        runs."""
        import copyreg
        import warnings

        sys.stdin, sys.stdout, sys.stderr = self.streams
        sys.argv[:] = self.argv
        sys.path[:] = self.path
        try:
            os.chdir(self.cwd)
        except OSError:
            pass
        warnings.filters[:] = self.filters
        copyreg.dispatch_table.clear()
        copyreg.dispatch_table.update(self.dispatch_table)
        sys.path_importer_cache.clear()
        sys.path_importer_cache.update(self.path_importer_cache)
        if self.zip_cache is not None:
            import zipimport

            zipimport._zip_directory_cache.clear()
            zipimport._zip_directory_cache.update(self.zip_cache)
        for abc in self._abc_classes():
            for cls in self._with_subclasses(abc):
                for ref in self.abcs.get(cls, ()):
                    registered = ref()
                    if registered is not None:
                        cls.register(registered)
                cls._abc_caches_clear()
        clear_caches()
        # Last, as the calls above may have filled it again.
        clear_internal = getattr(sys, "_clear_internal_caches", None)
        (clear_internal or sys._clear_type_cache)()


def clear_caches():
    """Empties the standard library caches regrtest empties between -R runs (those of
    modules already imported; nothing is imported here)."""
    for module in list(sys.modules.values()):
        if hasattr(module, "__warningregistry__"):
            try:
                del module.__warningregistry__
            except (AttributeError, TypeError):
                pass
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            try:
                stream.flush()
            except (OSError, ValueError):
                pass

    def loaded(name):
        return sys.modules.get(name)

    def call(module_name, attribute, *args):
        module = loaded(module_name)
        if module is None:
            return
        target = module
        for part in attribute.split("."):
            target = getattr(target, part, None)
            if target is None:
                return
        target(*args)

    call("re", "purge")
    call("_strptime", "_regex_cache.clear")
    call("urllib.parse", "clear_cache")
    call("urllib.request", "urlcleanup")
    call("linecache", "clearcache")
    call("mimetypes", "_default_mime_types")
    call("filecmp", "_cache.clear")
    call("struct", "_clearcache")
    call("ctypes", "_reset_cache")
    call("distutils.dir_util", "_path_created.clear")
    call("inspect", "_shadowed_dict_from_weakref_mro_tuple.cache_clear")
    doctest = loaded("doctest")
    if doctest is not None:
        doctest.master = None
    typing = loaded("typing")
    if typing is not None:
        for cleanup in getattr(typing, "_cleanups", ()):
            cleanup()


def warm_caches():
    """Fills the interpreter's small-object caches once, as regrtest does before -R."""
    data = bytes(range(256))
    for i in range(256):
        data[i : i + 1]
    [chr(i) for i in range(256)]
    list(range(-5, 257))


def gc_collect():
    """Three full collections, as test.support.gc_collect does."""
    gc.collect()
    gc.collect()
    gc.collect()


def release_extensions():
    """On a debug build, the extension modules loaded in this process that were built
    for the release interpreter, as {"count": N, "names": [the first few, sorted]};
    None on a release build or when there is none.

    Debian's python3.X-dbg imports release-ABI extension modules (the wheels of numpy,
    pyarrow, pandas are), but their Py_INCREF and Py_DECREF are the release build's,
    which leave sys.gettotalrefcount() alone: while one is loaded the reference deltas
    cannot be trusted (a clean numpy loop shows tens of references per run).

    An extension module is this interpreter's own when its file ends in its own
    EXT_SUFFIX (`.cpython-311d-x86_64-linux-gnu.so`), else release-built. Two sources:
    the extension modules of sys.modules (a plain `.so` too), and the files mapped into
    the process (/proc/self/maps), since a loaded extension module stays mapped even
    when it was dropped from sys.modules; among mapped files only names with an ABI
    tag count (`.cpython-*.so`, `.abi3*.so`), as plain libraries end in `.so` too.
    Called after the last run: extension modules are never unloaded, so those loaded
    before the runs and during them are all there."""
    if not hasattr(sys, "gettotalrefcount"):
        return None
    import importlib.machinery
    import sysconfig

    own = sysconfig.get_config_var("EXT_SUFFIX") or importlib.machinery.EXTENSION_SUFFIXES[0]
    modules = []
    for name, module in list(sys.modules.items()):
        try:
            loader = getattr(module, "__loader__", None)
            if isinstance(loader, importlib.machinery.ExtensionFileLoader):
                modules.append((str(name), str(loader.path)))
        except Exception:  # an odd object in sys.modules must not break the hunt
            continue
    mapped = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.rstrip("\n").split(None, 5)
                if len(fields) == 6 and fields[5].startswith("/"):
                    mapped.append(fields[5])
    except OSError:
        pass
    return classify_extensions(modules, mapped, own)


def classify_extensions(modules, mapped, own):
    """release_extensions' rule on given facts: `modules` are (name, path) of loaded
    extension modules, `mapped` the paths of mapped files, `own` the interpreter's
    EXT_SUFFIX."""
    deleted = " (deleted)"
    names = {}
    for name, path in modules:
        if not path.endswith(own):
            names[path] = name
    for path in mapped:
        if path.endswith(deleted):
            path = path[: -len(deleted)]
        base = path.rsplit("/", 1)[-1]
        if path in names or path.endswith(own) or not base.endswith(".so"):
            continue
        stem = base[: -len(".so")]
        tag = stem.rsplit(".", 1)[-1] if "." in stem else ""
        if tag.startswith(("cpython-", "abi3")):
            names[path] = base
    if not names:
        return None
    listed = sorted(set(clip(name, EXTENSION_NAME_LIMIT) for name in names.values()))
    return {"count": len(names), "names": listed[:EXTENSIONS_NAMED]}


def measured_runs(run_once, total, freeze=False):
    """Calls run_once(number) for number 1..total in this interpreter, putting back
    regrtest's state, collecting garbage and measuring after each call. Returns
    (code, number, refs, blocks, fds): the first non-zero code run_once returned and
    the run that returned it (0, None when every run went through), and the deltas
    of every run (refs all 0 on a release build).

    `freeze` (the per-test hunt): what exists before the runs is moved out of the
    collector's sight (gc.freeze) until they end, so the collections between runs
    look at what the runs made only. A debug build's full collection of a pytest
    process takes about 0.4 s here, and each test needs (runs + 1) * 3 of them."""
    if freeze:
        gc.freeze()
    try:
        return _measured_runs(run_once, total)
    finally:
        if freeze:
            gc.unfreeze()


def _measured_runs(run_once, total):
    # Everything the loop needs exists before it starts, so that measuring allocates
    # nothing that outlives a run: the lists, the ints (regrtest's pool), the callables.
    int_pool = {value: value for value in range(-1000, 1000)}
    pooled = int_pool.setdefault
    ref_deltas = [0] * total
    block_deltas = [0] * total
    fd_deltas = [0] * total
    numbers = list(range(1, total + 1))
    getallocatedblocks = sys.getallocatedblocks
    gettotalrefcount = getattr(sys, "gettotalrefcount", lambda: 0)

    warm_caches()
    state = RegrtestState()
    state.restore()
    gc_collect()
    blocks_before = getallocatedblocks()
    refs_before = gettotalrefcount()
    fds_before = fd_count()

    for number in numbers:
        code = run_once(number)
        state.restore()
        if code != 0:
            return code, number, ref_deltas, block_deltas, fd_deltas
        gc_collect()
        blocks_after = getallocatedblocks()
        refs_after = gettotalrefcount()
        fds_after = fd_count()
        index = number - 1
        ref_deltas[index] = pooled(refs_after - refs_before, refs_after - refs_before)
        block_deltas[index] = pooled(blocks_after - blocks_before, blocks_after - blocks_before)
        fd_deltas[index] = pooled(fds_after - fds_before, fds_after - fds_before)
        blocks_before, refs_before, fds_before = blocks_after, refs_after, fds_after
    return 0, None, ref_deltas, block_deltas, fd_deltas


def new_hunt(warmups, runs, report, per_test):
    """The hunt's part of the trailer, empty, set on the report."""
    debug_build = hasattr(sys, "gettotalrefcount")
    leaks = {
        "warmups": warmups,
        "runs": runs,
        "debug_build": debug_build,
        "refs": [] if debug_build else None,
        "blocks": [],
        "fds": [],
        "failed_run": None,
        "release_extensions": None,
    }
    if per_test:
        leaks["per_test"] = True
    report.hunt_leaks = leaks
    return leaks


def judged_refs_note(leaks):
    """On a debug build, release_extensions filled in (after the last run: extension
    modules are never unloaded) and what the closing line adds to the references:
    ' (not trusted: ...)' or ''. None on a release build, which measures none."""
    if not leaks["debug_build"]:
        say(
            "references are not measured: this is a release build "
            "(no sys.gettotalrefcount); run a debug build (python3.X-dbg) for them"
        )
        return None
    untrusted = release_extensions()
    leaks["release_extensions"] = untrusted
    if not untrusted:
        return ""
    return " (not trusted: %d release-built extension module%s loaded, %s)" % (
        untrusted["count"],
        "" if untrusted["count"] == 1 else "s",
        ", ".join(untrusted["names"]),
    )


def hunt_leaks(run_once, warmups, runs, report):
    """Calls run_once(number) warmups+runs times, measuring after each call.

    run_once returns an exit code: 0 lets the hunt go on, anything else ends it with
    that code. Fills report.hunt_leaks and returns the exit code."""
    total = warmups + runs
    leaks = new_hunt(warmups, runs, report, per_test=False)
    say(
        "hunting leaks: %d runs in one interpreter (%d warmups, then %d measured)"
        % (total, warmups, runs)
    )
    code, number, refs, blocks, fds = measured_runs(run_once, total)
    if code == EXIT_SKIP:
        if number > 1:
            say("run %d of %d exited 77 (skip)" % (number, total))
        return code
    if code != 0:
        leaks["failed_run"] = number
        report.error = report.error or "run %d of %d failed (exit %d)" % (number, total, code)
        say("run %d of %d failed (exit %d); no leak data" % (number, total, code))
        return code
    leaks["blocks"] = blocks[warmups:]
    leaks["fds"] = fds[warmups:]
    if leaks["debug_build"]:
        leaks["refs"] = refs[warmups:]
    note = judged_refs_note(leaks)
    words = "" if note is None else "references %s%s, " % (leaks["refs"], note)
    say(
        "deltas of the %d measured runs: %smemory blocks %s, file descriptors %s"
        % (runs, words, leaks["blocks"], leaks["fds"])
    )
    return EXIT_OK


class TestHunt:
    """The leak hunt per test (unittest and pytest files): each test runs
    warmups+runs times in a row, function-level fixtures (setUp, function-scoped
    fixtures) anew each time and wider ones once; its deltas go on its entry. The
    verdict, per test, is the caller's."""

    def __init__(self, warmups, runs, report, meter):
        self.meter = meter
        self.warmups = warmups
        self.runs = runs
        self.total = warmups + runs
        self.leaks = new_hunt(warmups, runs, report, per_test=True)
        self.hunted = 0
        say(
            "hunting leaks per test: each test %d times in a row (%d warmups, then %d measured)"
            % (self.total, warmups, runs)
        )

    def hunt(self, run_once):
        """Runs one test's runs. Returns (code, number, deltas): deltas (the measured
        runs' refs, blocks, fds) when every run returned 0, else the code and run."""
        code, number, refs, blocks, fds = measured_runs(run_once, self.total, freeze=True)
        if code != 0:
            return code, number, None
        self.hunted += 1
        deltas = {"refs": None, "blocks": blocks[self.warmups :], "fds": fds[self.warmups :]}
        if self.leaks["debug_build"]:
            deltas["refs"] = refs[self.warmups :]
        return 0, None, deltas

    def finish(self):
        note = judged_refs_note(self.leaks)
        words = "" if note is None else "references%s, " % note
        say("hunted %d tests; their deltas (%smemory blocks, file descriptors) are in the report" % (self.hunted, words))


class PeakMeter:
    """Each test's own peak: the process's RSS high-water mark is reset before the
    test (writing 5 to /proc/self/clear_refs) and read after it; the test's peak is
    its rise over the RSS at its start. The process's own peak, which each reset
    lowers for whoever reads it at exit (the monitor), is kept here across the resets
    (`peak`). Off where /proc does not allow it.

    The mark is read through getrusage (ru_maxrss), a fifth of the cost of
    /proc/self/status's VmHWM; but ru_maxrss is also at least the mark of the
    image this process replaced at exec (the monitor's child: small), which no reset
    lowers. Right after a reset the mark is the RSS: when ru_maxrss is above it
    then, that older mark shows through, and this test's mark is read from
    VmHWM instead."""

    def __init__(self):
        self.peak = 0
        self.trusted = False
        self.status = self.statm = self.clear = None
        # The benchmark's switch (`cargo xtask bench --only test-peaks`).
        if os.environ.get("PYMACCOUNTER_TEST_PEAKS") == "off":
            return
        try:
            import resource

            self.getrusage = resource.getrusage
            self.page = os.sysconf("SC_PAGE_SIZE")
            self.status = os.open("/proc/self/status", os.O_RDONLY)
            self.statm = os.open("/proc/self/statm", os.O_RDONLY)
            self.clear = os.open("/proc/self/clear_refs", os.O_WRONLY)
            self.start()
        except (ImportError, OSError, ValueError):
            self.status = None

    def maxrss(self):
        return self.getrusage(0).ru_maxrss * 1024  # RUSAGE_SELF, KiB on Linux

    def vmhwm(self):
        for line in os.pread(self.status, 8192, 0).split(b"\n"):
            if line.startswith(b"VmHWM:"):
                return int(line.split()[1]) * 1024
        raise ValueError("no VmHWM")

    def start(self):
        """Resets the mark; the RSS now (None when off)."""
        if self.status is None:
            return None
        try:
            self.peak = max(self.peak, self.maxrss())
            rss = int(os.pread(self.statm, 256, 0).split()[1]) * self.page
            os.write(self.clear, b"5")
            self.trusted = self.maxrss() <= rss
        except (OSError, ValueError, IndexError):
            self.status = None  # a test closed our descriptors: no more figures
            return None
        return rss

    def stop(self, start):
        """The rise of the mark since start() returned `start` (None when off)."""
        if start is None or self.status is None:
            return None
        try:
            mark = self.maxrss() if self.trusted else self.vmhwm()
        except (OSError, ValueError, IndexError):
            self.status = None
            return None
        self.peak = max(self.peak, mark)
        return max(0, mark - start)

    def process_peak(self):
        """The process's peak across every reset so far (None when off)."""
        if self.status is None:
            return None
        try:
            self.peak = max(self.peak, self.maxrss(), self.vmhwm())
        except (OSError, ValueError, IndexError):
            pass
        return self.peak or None


# --------------------------------------------------------------------------- script mode


def run_script(module_path, args, hunt, report):
    """Runs the module as `python3 MODULE_PATH ARGS`, once or W+R times."""
    import runpy

    def run_once(number):
        sys.argv = [module_path] + list(args)
        try:
            runpy.run_path(module_path, run_name="__main__")
        except SystemExit as exc:
            code = system_exit_code(exc)
            if code not in (0, EXIT_SKIP):
                report.error = "the script exited %d" % code
                if hunt:
                    report.error = "run %d of %d: %s" % (number, sum(hunt), report.error)
            return code
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            print_exception(exc)
            report.error = one_liner(exc)
            if hunt:
                report.error = "run %d of %d raised %s" % (number, sum(hunt), report.error)
            del exc
            return EXIT_FAILED
        return EXIT_OK

    if hunt is None:
        return run_once(1)
    return hunt_leaks(run_once, hunt[0], hunt[1], report)


# --------------------------------------------------------------------------- unittest mode


def unittest_classes():
    """The recording result class and a TestProgram that only parses arguments, built
    on first use so that unittest is imported only by the mode that needs it."""
    import unittest

    class RecordingResult(unittest.TextTestResult):
        """unittest's text result that also keeps one entry per test for the trailer."""

        module_name = ""  # set per run: stripped from test ids
        # Takes each test's peak (a PeakMeter), unless the leak hunt does.
        meter = None

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.entries = []  # in the order tests started
            self._by_test = {}
            self._started = {}
            self._rss = {}

        def _name(self, test):
            ident = test.id()
            prefix = self.module_name + "."
            if type(test).__name__ == "_ErrorHolder":
                return ident.replace(prefix, "")
            return ident[len(prefix) :] if ident.startswith(prefix) else ident

        def _entry(self, test):
            # By identity, from startTest to stopTest: equal TestCase objects
            # (one method, many instances from a load_tests) are as many tests
            # as unittest runs, and the suite still frees each test after it ran.
            entry = self._by_test.get(id(test))
            if entry is None:
                entry = {
                    "name": self._name(test),
                    "outcome": None,
                    "message": None,
                    "duration_s": 0.0,
                }
                self._by_test[id(test)] = entry
                self.entries.append(entry)
            return entry

        def _set(self, test, outcome, message, err=None):
            entry = self._entry(test)
            if entry["outcome"] is None or RANK[outcome] > RANK[entry["outcome"]]:
                entry["outcome"] = outcome
                entry["message"] = clip(message)
                if err is not None:
                    entry["traceback"] = clip_traceback(self._exc_info_to_string(err, test).rstrip())

        def startTest(self, test):
            self._entry(test)
            self._started[id(test)] = time.perf_counter()
            if self.meter is not None:
                self._rss[id(test)] = self.meter.start()
            super().startTest(test)

        def stopTest(self, test):
            super().stopTest(test)
            entry = self._entry(test)
            if self.meter is not None:
                peak = self.meter.stop(self._rss.pop(id(test), None))
                if peak is not None:
                    entry["peak_bytes"] = peak
            started = self._started.pop(id(test), None)
            if started is not None:
                entry["duration_s"] = round(time.perf_counter() - started, 6)
            failing = entry.pop("_subtests", None)
            if failing:
                outcome, message = failing[0]
                if len(failing) > 1:
                    message = "%d subtests failed; first: %s" % (len(failing), message)
                worst = max((o for o, _ in failing), key=RANK.__getitem__)
                self._set(test, worst, message)
            if entry["outcome"] is None:
                # Started and stopped with no verdict: unittest counts it as run.
                entry["outcome"] = "passed"
            self._by_test.pop(id(test), None)

        def addSuccess(self, test):
            super().addSuccess(test)
            self._set(test, "passed", None)

        def addFailure(self, test, err):
            super().addFailure(test, err)
            self._set(test, "failed", one_liner(err[1]), err)

        def addError(self, test, err):
            super().addError(test, err)
            self._set(test, "error", one_liner(err[1]), err)

        def addSkip(self, test, reason):
            super().addSkip(test, reason)
            self._set(test, "skipped", str(reason))

        def addExpectedFailure(self, test, err):
            super().addExpectedFailure(test, err)
            self._set(test, "xfailed", one_liner(err[1]))

        def addUnexpectedSuccess(self, test):
            super().addUnexpectedSuccess(test)
            self._set(test, "xpassed", "unexpected success")

        def addSubTest(self, test, subtest, err):
            super().addSubTest(test, subtest, err)
            if err is None:
                return
            outcome = "failed" if issubclass(err[0], test.failureException) else "error"
            description = subtest._subDescription()
            message = "%s %s" % (description, one_liner(err[1]))
            self._entry(test).setdefault("_subtests", []).append((outcome, message))

    class Program(unittest.TestProgram):
        """unittest.main's argument handling, without running anything yet."""

        def runTests(self):
            pass

    return RecordingResult, Program


def run_unittest(module_path, args, hunt, report):
    """Runs the module's tests as `python -m unittest` would, once or W+R times."""
    import io
    import unittest

    try:
        module = load_module(module_path)
    except unittest.SkipTest as exc:
        reason = str(exc)
        print("module skipped: %s" % reason, file=sys.stderr)
        name = os.path.basename(module_path)
        report.tests = [{"name": name, "outcome": "skipped", "message": clip(reason), "duration_s": 0.0}]
        return EXIT_OK
    except SystemExit as exc:
        code = system_exit_code(exc)
        if code == EXIT_SKIP:
            return EXIT_SKIP
        report.error = "the module exited %s while being imported" % code
        say(report.error)
        return EXIT_FAILED
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        print_exception(exc)
        report.error = "import failed: " + one_liner(exc)
        return EXIT_FAILED

    RecordingResult, Program = unittest_classes()
    RecordingResult.module_name = module.__name__
    try:
        program = Program(module=module, argv=[module_path] + list(args), exit=False, verbosity=2)
    except SystemExit as exc:
        # unittest's argument parser printed its usage (or help) and asked to exit.
        if exc.code in (0, None):
            report.error = "unittest printed its help; no tests ran"
            return EXIT_NO_TESTS
        report.error = "unittest usage error in %s" % " ".join(args)
        return EXIT_USAGE

    def run_suite(stream, verbosity):
        if program.catchbreak:
            unittest.installHandler()
        options = {
            "stream": stream,
            "verbosity": verbosity,
            "failfast": program.failfast,
            "buffer": program.buffer,
            "warnings": program.warnings,
            "resultclass": RecordingResult,
        }
        if getattr(program, "tb_locals", False):
            options["tb_locals"] = True
        if getattr(program, "durations", None) is not None:
            options["durations"] = program.durations
        runner = unittest.TextTestRunner(**options)
        suite, report.deselected = select_by_keyword(program.test, module_path)
        if hunter is not None:
            repeat_each_test(suite, hunter, unittest)
        return runner.run(suite)

    def verdict(result):
        if result.testsRun == 0 and not result.skipped and report.deselected:
            say("-k %r deselects all %d tests" % (KEYWORD, report.deselected))
            return EXIT_SKIP
        if result.testsRun == 0 and not result.skipped:
            return EXIT_NO_TESTS
        return EXIT_OK if result.wasSuccessful() else EXIT_FAILED

    def keep(result):
        report.tests = [dict(entry) for entry in result.entries]

    meter = PeakMeter()
    hunter = None if hunt is None else TestHunt(hunt[0], hunt[1], report, meter)
    # Under the hunt each test's peak covers all its runs: the hunt takes it.
    RecordingResult.meter = meter if hunter is None else None
    result = run_suite(sys.stderr, program.verbosity)
    keep(result)
    report.peak_rss_bytes = meter.process_peak()
    if hunter is not None:
        hunter.finish()
    code = verdict(result)
    if code == EXIT_NO_TESTS:
        report.error = "no tests ran"
        say("no tests ran: the module defines no test that was selected")
    return code


def repeat_each_test(suite, hunter, unittest):
    """Makes every test of the suite run hunter.total times in a row when the
    suite runs it: the suite still sets up classes and modules once around it,
    the test's own setUp and tearDown run each time. The first run reports into
    the runner's result as usual; the others into a quiet one, and a failure
    there fails the test, naming the run."""

    class QuietResult(unittest.TestResult):
        """Where the later runs report: it keeps failures only (3.12's durations
        would grow by one per run)."""

        def addDuration(self, test, elapsed):
            pass

    def walk(node):
        if isinstance(node, unittest.TestSuite):
            for child in node:
                walk(child)
        elif isinstance(node, unittest.TestCase):
            # TestCase.__call__ calls self.run: an instance attribute takes its place.
            node.run = lambda result=None, test=node: repeated(test, result)

    def repeated(test, result):
        own_run = type(test).run
        if result is None or not hasattr(result, "entries"):
            return own_run(test, result)
        quiet = QuietResult()
        first = []

        def run_once(number):
            if number == 1:
                before = len(result.entries)
                own_run(test, result)
                entry = result.entries[before] if len(result.entries) > before else None
                first.append(entry)
                if entry is None or entry["outcome"] in ("skipped", "failed", "error"):
                    return EXIT_SKIP if entry and entry["outcome"] == "skipped" else EXIT_FAILED
                return EXIT_OK
            wrong = len(quiet.failures) + len(quiet.errors) + len(quiet.unexpectedSuccesses)
            own_run(test, quiet)
            if len(quiet.failures) + len(quiet.errors) + len(quiet.unexpectedSuccesses) == wrong:
                return EXIT_OK
            later_run_failed(test, result, first[0], quiet, number, hunter.total)
            return EXIT_FAILED

        start = hunter.meter.start()
        code, _, deltas = hunter.hunt(run_once)
        peak = hunter.meter.stop(start)
        entry = first[0] if first else None
        if entry is not None:
            if deltas is not None:
                entry["hunt_leaks"] = deltas
            if peak is not None:
                entry["peak_bytes"] = peak
        return result

    walk(suite)


def later_run_failed(test, result, entry, quiet, number, total):
    """A test that passed its first run and failed a later one of the hunt: failed
    in the runner's result (so the suite is unsuccessful), the run named."""
    if quiet.errors:
        outcome, text = "error", quiet.errors[-1][1]
        result.errors.append((test, text))
    elif quiet.failures:
        outcome, text = "failed", quiet.failures[-1][1]
        result.failures.append((test, text))
    else:
        outcome, text = "failed", "unexpected success"
        result.failures.append((test, text))
    last = [line for line in text.strip().splitlines() if line.strip()]
    say("%s failed on run %d of %d of the leak hunt" % (entry["name"] if entry else test.id(), number, total))
    if entry is not None:
        entry["outcome"] = outcome
        entry["message"] = clip("run %d of %d: %s" % (number, total, last[-1] if last else outcome))
        entry["traceback"] = clip_traceback(text.rstrip())


# --------------------------------------------------------------------------- pytest mode


def pytest_collector(pytest):
    """A pytest plugin that keeps one entry per test id for the trailer."""

    def name_of(nodeid):
        if "::" in nodeid:
            return nodeid.split("::", 1)[1]
        return os.path.basename(nodeid) or nodeid

    def last_line(text):
        lines = [line.strip() for line in str(text).splitlines() if line.strip()]
        if not lines:
            return None
        line = lines[-1]
        if line.startswith("E "):
            line = line[1:].strip()
        return line

    class Collector:
        def __init__(self):
            # One entry per test pytest runs, in order: two tests with one
            # node id (duplicate parametrize ids) are two entries.
            self.entries = []
            self.current = {}
            self.messages = {}
            self.deselected = 0

        def pytest_deselected(self, items):
            self.deselected += len(items)

        def new_entry(self, nodeid):
            entry = {"name": name_of(nodeid), "outcome": None, "message": None, "duration_s": 0.0}
            self.entries.append(entry)
            self.current[nodeid] = entry
            return entry

        def entry(self, nodeid):
            return self.current.get(nodeid) or self.new_entry(nodeid)

        def pytest_runtest_logstart(self, nodeid, location):
            self.new_entry(nodeid)

        def merge(self, nodeid, outcome, message, report=None, entry=None):
            entry = entry or self.entry(nodeid)
            if entry["outcome"] is None or RANK[outcome] > RANK[entry["outcome"]]:
                failed = outcome in ("failed", "error")
                # Only a failure's text is kept: pytest renders it anew on each read.
                text = getattr(report, "longreprtext", "") if failed and report is not None else ""
                memray = memray_section(report) if failed else None
                if memray is not None:
                    # pytest-memray's limit: its allocations are in a section of the
                    # report, not in the one-line failure; the top one joins the message.
                    text = "%s\n%s" % (text.rstrip(), memray["text"])
                    if memray["top"]:
                        message = "%s; top allocation: %s" % (message, memray["top"])
                entry["outcome"] = outcome
                entry["message"] = clip(message)
                if failed and text:
                    entry["traceback"] = clip_traceback(text.rstrip())

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_makereport(self, item, call):
            # A plain hook, not a wrapper: it runs once per phase of every test.
            if call.excinfo is not None:
                self.messages[(item.nodeid, call.when)] = one_liner(call.excinfo.value)

        def message(self, report):
            message = self.messages.pop((report.nodeid, report.when), None)
            longrepr = report.longrepr
            if report.skipped and isinstance(longrepr, tuple) and len(longrepr) == 3:
                reason = str(longrepr[2])
                return reason[len("Skipped: ") :] if reason.startswith("Skipped: ") else reason
            if message is not None:
                return message
            if longrepr is None:
                return None
            crash = getattr(longrepr, "reprcrash", None)
            if crash is not None and getattr(crash, "message", None):
                return first_line(crash.message)
            return last_line(longrepr)

        def pytest_runtest_logreport(self, report):
            entry = self.entry(report.nodeid)
            entry["duration_s"] = round(entry["duration_s"] + (report.duration or 0.0), 6)
            xfail = hasattr(report, "wasxfail")
            outcome = None
            if report.when == "call":
                if report.passed:
                    outcome = "xpassed" if xfail else "passed"
                elif report.skipped:
                    outcome = "xfailed" if xfail else "skipped"
                else:
                    outcome = "failed"
            elif report.failed:
                outcome = "error"
            elif report.skipped:
                outcome = "xfailed" if xfail else "skipped"
            if outcome is None:
                self.messages.pop((report.nodeid, report.when), None)
                return
            message = self.message(report)
            if xfail and outcome in ("xfailed", "xpassed") and report.wasxfail:
                message = report.wasxfail
            self.merge(report.nodeid, outcome, message, report)

        def pytest_collectreport(self, report):
            if report.failed:
                # A collection error: the file (or class) that could not be collected.
                entry = self.new_entry(report.nodeid)
                self.merge(report.nodeid, "error", self.message(report), report, entry)

        def tests(self):
            return [entry for entry in self.entries if entry["outcome"] is not None]

    return Collector()




def pytest_per_test(pytest, collector, meter, hunter):
    """A pytest plugin that takes each test's peak and, with a hunter, runs each
    test hunter.total times in a row (pytest-leaks' way): the item's setup, call and
    teardown each time, its function-scoped fixtures set up anew, wider scopes kept
    (the runs tear down towards the item's parent), then, once measured, torn down
    towards the next item as usual. The first run is reported as usual; a later
    one only when it fails, its message naming the run."""
    from _pytest.runner import CallInfo, runtestprotocol

    major = int(pytest.__version__.split(".")[0])

    def wider_finalizers(item):
        """The finalizer lists of the item's wider scopes: the setup state's nodes
        (pytest 7+: stack, 6: _finalizers) and the fixtures' own."""
        state = item.session._setupstate
        stack = getattr(state, "stack", None)
        if isinstance(stack, dict):
            lists = [entry[0] for node, entry in stack.items() if node is not item]
        else:
            lists = [kept for node, kept in getattr(state, "_finalizers", {}).items() if node is not item]
        fixtures = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", None) or {}
        for definitions in fixtures.values():
            for definition in definitions:
                kept = getattr(definition, "_finalizers", None)
                if isinstance(kept, list):
                    lists.append(kept)
        return [entry for entry in lists if isinstance(entry, list)]

    def run_once(item, number, total, marks):
        item._report_sections = []
        if number > 1:
            # What later runs warn is not reported: pytest would keep every warning.
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                reports = runtestprotocol(item, log=False, nextitem=item.parent)
        else:
            reports = runtestprotocol(item, log=True, nextitem=item.parent)
        # Each request of a wider-scoped fixture adds a finalizer to its scope
        # (pytest's bookkeeping, which grows with every use): what later runs
        # added again is dropped, the first run's stay and finish the fixture.
        if number == 1:
            marks.extend((kept, len(kept)) for kept in wider_finalizers(item))
        else:
            for kept, length in marks:
                del kept[length:]
        for report in reports:
            if report.failed:
                if number > 1:
                    item.ihook.pytest_runtest_logreport(report=report)
                    entry = collector.current.get(item.nodeid)
                    if entry is not None:
                        entry["message"] = clip("run %d of %d: %s" % (number, total, entry["message"]))
                return EXIT_FAILED
            if report.skipped:
                return EXIT_SKIP
        return EXIT_OK

    def tear_down_towards(item, nextitem):
        """The wider scopes the next item does not share, torn down; an error in
        that is the item's teardown error, as pytest reports it."""
        state = item.session._setupstate
        if major >= 7:
            work = lambda: state.teardown_exact(nextitem)
        else:
            work = lambda: state.teardown_exact(item, nextitem)
        call = CallInfo.from_call(work, when="teardown", reraise=(pytest.exit.Exception, KeyboardInterrupt))
        if call.excinfo is not None:
            report = item.ihook.pytest_runtest_makereport(item=item, call=call)
            item.ihook.pytest_runtest_logreport(report=report)

    class Peaks:
        # Between the protocol's first and last hooks, which every protocol
        # (pytest's, the hunt's, a rerun plugin's) calls once per test: two
        # plain hooks cost less than a wrapper around it.
        started = None

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_logstart(self, nodeid, location):
            self.started = meter.start()

        @pytest.hookimpl(trylast=True)
        def pytest_runtest_logfinish(self, nodeid, location):
            peak, self.started = meter.stop(self.started), None
            entry = collector.current.get(nodeid)
            if entry is not None and peak is not None:
                entry["peak_bytes"] = peak

    class Hunting:
        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_protocol(self, item, nextitem):
            item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
            total = hunter.total
            marks = []
            code, _, deltas = hunter.hunt(lambda number: run_once(item, number, total, marks))
            tear_down_towards(item, nextitem)
            entry = collector.current.get(item.nodeid)
            if entry is not None and deltas is not None:
                entry["hunt_leaks"] = deltas
            item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
            return True

    # The peak wraps the whole protocol: under the hunt, all the test's runs.
    return [Peaks()] if hunter is None else [Peaks(), Hunting()]


def memray_section(report):
    """pytest-memray's section of a failed report ({"text", "top": its first
    allocation line}), or None."""
    for title, text in getattr(report, "sections", None) or ():
        if "memray" in str(title).lower():
            lines = [line.strip() for line in str(text).splitlines()]
            heads = [i for i, line in enumerate(lines) if line in ("List of allocations:", "List of leaked allocations:")]
            after = lines[heads[0] + 1 :] if heads else []
            # `- 47.7MiB allocated here:` then the allocating frame's `function:file:line`
            # (limit_leaks: a native frame first, as pytest-memray lists it).
            after = [line for line in after if line and line != "..."]
            top = None
            if after:
                size = after[0].lstrip("- ").replace(" allocated here:", "").strip()
                top = "%s at %s" % (size, after[1]) if len(after) > 1 else size
            return {"text": str(text).rstrip(), "top": top}
    return None


def run_pytest(module_path, args, hunt, report):
    """Runs pytest on the module alone, its temporary files under $TMPDIR."""
    try:
        import pytest
    except ImportError as exc:
        report.error = "pytest is not installed in this image (Debian: python3-pytest)"
        say("%s; importing it failed: %s" % (report.error, one_liner(exc)))
        return EXIT_USAGE
    # Read before any test runs (a test could patch the module later).
    report.pytest = {
        "version": clip(str(getattr(pytest, "__version__", "unknown"))),
        "path": clip(os.path.dirname(os.path.abspath(getattr(pytest, "__file__", None) or "?"))),
    }
    import shutil
    import tempfile

    # pytest rewrites asserts and would cache the result beside the module, which is
    # read-only in the container: nothing is written there.
    sys.dont_write_bytecode = True
    scratch = tempfile.mkdtemp(prefix="pymaccounter-pytest-")
    arguments = [module_path, "-p", "no:cacheprovider", "--basetemp", os.path.join(scratch, "t")]
    if KEYWORD is not None:
        arguments += ["-k", KEYWORD]
    stem = os.path.basename(module_path)
    if "." in (stem[:-3] if stem.endswith(".py") else stem):
        # pytest's default import mode imports the file by its name, which a dot in the
        # stem turns into a package path; importlib mode imports it by path instead.
        arguments.append("--import-mode=importlib")
    extra_plugins = []
    if MEMRAY_MARKERS is not None:
        unchecked = memray_markers_unchecked()
        if unchecked is None:
            arguments.append("--memray")
            if MEMRAY_CAPTURES is not None:
                arguments += ["--memray-bin-path", MEMRAY_CAPTURES, "--memray-bin-prefix", "test"]
        else:
            say("limit_memory / limit_leaks are not checked: " + unchecked)
            extra_plugins.append(MarkersNotChecked(unchecked))
            if importable("pytest_memray"):
                # Its plugin would start a tracker per marked test beside memray's own.
                arguments += ["-p", "no:memray"]
    collector = pytest_collector(pytest)
    said = Tee(sys.stderr)
    sys.stderr = said
    try:
        meter = PeakMeter()
        hunter = None if hunt is None else TestHunt(hunt[0], hunt[1], report, meter)
        plugins = [collector, LeftOutByProject(pytest, module_path, report)]
        plugins += pytest_per_test(pytest, collector, meter, hunter) + extra_plugins
        code = int(pytest.main(arguments + list(args), plugins=plugins))
        report.peak_rss_bytes = meter.process_peak()
        if hunter is not None:
            hunter.finish()
    finally:
        sys.stderr = said.stream
        report.tests = collector.tests()
        report.deselected = collector.deselected
        shutil.rmtree(scratch, ignore_errors=True)
    if code == 5 and report.deselected and not report.tests:
        say("-k %r deselects all %d tests" % (KEYWORD, report.deselected))
        return EXIT_SKIP
    if report.not_collected:
        say("the project's pytest configuration leaves %s out of its collection here" % module_path)
        return EXIT_SKIP
    # The exit code is the verdict (the runner names it); `error` is kept for
    # what only pytest knows: a conftest that failed to import (pytest says so
    # before any plugin of ours sees a test).
    if code == EXIT_USAGE:
        report.error = conftest_failure(said.lines)
    if code == EXIT_NO_TESTS:
        report.error = "no tests ran"
    return code


def memray_markers_unchecked():
    """Why pytest-memray's markers cannot be checked here, or None when they can."""
    if not importable("pytest_memray"):
        return (
            "pytest-memray is not installed here (it comes with a project's environment, "
            "from the index, on Pythons memray supports)"
        )
    if MEMRAY_MARKERS == "unchecked":
        return "--memray records this module with memray already, and memray runs one tracker at a time"
    return None


def importable(name):
    """Whether a top-level module can be imported here (found, not imported)."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


class MarkersNotChecked:
    """Registers pytest-memray's markers where it is absent (no unknown-marker
    warning, no --strict-markers error) and says, on each marked test, that its
    limit was not checked."""

    def __init__(self, why):
        self.why = why

    def pytest_configure(self, config):
        for name in ("limit_memory", "limit_leaks"):
            config.addinivalue_line("markers", "%s(limit): pytest-memray's, not checked here" % name)


class LeftOutByProject:
    """pytest collects a file named on its command line even where the
    project's conftest (`collect_ignore`, `collect_ignore_glob`, a
    `pytest_ignore_collect` hook) or `--ignore` leaves it out of a folder's
    collection, as when its tests only apply to some Python versions. Before
    anything is collected (the file is not even imported), ask that hook as
    a folder's collection would; if it says so, collect nothing."""

    def __init__(self, pytest, module_path, report):
        self.pytest = pytest
        self.path = os.path.abspath(module_path)
        self.report = report

    def ignored(self, session):
        config = session.config
        major = int(self.pytest.__version__.split(".")[0])
        if major >= 7:
            import pathlib

            path = pathlib.Path(self.path)
            hook = session.gethookproxy(path)
            return hook.pytest_ignore_collect(collection_path=path, config=config)
        import py  # pytest 6 speaks py.path

        path = py.path.local(self.path)
        return session.gethookproxy(path).pytest_ignore_collect(path=path, config=config)

    def pytest_collection(self, session):
        if not self.ignored(session):
            return None
        self.report.not_collected = True
        session.items = []
        session.testscollected = 0
        return True


class Tee:
    """A stream that writes through and keeps the last lines written."""

    def __init__(self, stream, keep=200):
        self.stream = stream
        self.lines = []
        self.keep = keep
        self.partial = ""

    def write(self, text):
        self.partial += text
        *whole, self.partial = self.partial.split("\n")
        self.lines = (self.lines + whole)[-self.keep :]
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def conftest_failure(lines):
    """`ModuleNotFoundError: No module named 'x' (in /p/conftest.py)` from pytest's
    "ImportError while loading conftest" report, or None."""
    for index, line in enumerate(lines):
        if line.startswith("ImportError while loading conftest '"):
            path = line[len("ImportError while loading conftest '") :].rstrip(".").rstrip("'")
            errors = [l[1:].strip() for l in lines[index + 1 :] if l.startswith("E ")]
            what = errors[-1] if errors else "ImportError"
            return clip("%s (in %s)" % (what, path))
    return None


# --------------------------------------------------------------------------- main


def shut_down_like_python():
    """What the interpreter does at exit before finalizing: wait for non-daemon threads,
    run atexit handlers. Done here so that their output precedes the trailer."""
    threading = sys.modules.get("threading")
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        try:
            shutdown()
        except Exception:
            traceback.print_exc()
    import atexit

    atexit._run_exitfuncs()
    gc.collect()


REPORT_FD = 2
# --memray-markers: the module uses pytest-memray's limit_memory / limit_leaks;
# "check" turns pytest-memray on, "unchecked" (memray already records) says why not,
# "record" checks them and keeps each test's capture in MEMRAY_CAPTURES.
MEMRAY_MARKERS = None
MEMRAY_CAPTURES = None
# -k EXPR (--keyword): the tests to run, or None for all.
KEYWORD = None


def process_state(pid):
    """(state letter, parent pid) of a process from /proc, or None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as file:
            data = file.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = data.rsplit(")", 1)[-1].split()
    try:
        return fields[0], int(fields[1])
    except (IndexError, ValueError):
        return None


def kill_strays():
    """SIGKILLs every process but this one and its ancestors, again until none is
    left alive (zombies are dead: they run no code), for at most a few seconds."""
    import signal

    keep = {os.getpid()}
    pid = os.getpid()
    while pid > 1:
        state = process_state(pid)
        if state is None:
            break
        pid = state[1]
        keep.add(pid)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        alive = False
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) in keep:
                continue
            state = process_state(int(name))
            if state is None or state[0] in ("Z", "X"):
                continue
            alive = True
            try:
                os.kill(int(name), signal.SIGKILL)
            except OSError:
                pass
        if not alive:
            return
        time.sleep(0.001)


def write_trailer(report):
    """Flushes every stream, then writes the trailer straight to REPORT_FD (stderr
    unless --report-fd named another)."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            try:
                stream.flush()
            except Exception:
                pass
    data = (report.trailer_line() + "\n").encode("ascii")
    if REPORT_FD != 2:
        try:
            os.ftruncate(REPORT_FD, 0)
            os.lseek(REPORT_FD, 0, os.SEEK_SET)
        except OSError:
            pass
    while data:
        try:
            written = os.write(REPORT_FD, data)
        except InterruptedError:
            continue
        except OSError:
            return
        data = data[written:]


def main(argv):
    """Runs what argv asks for; returns the exit code. The report is module state so
    that the trailer can be written whatever happens."""
    global REPORT
    try:
        mode, hunt, module_path, args = parse_arguments(argv)
    except UsageError as exc:
        REPORT.error = str(exc)
        print(USAGE, file=sys.stderr)
        say(str(exc))
        return EXIT_USAGE
    REPORT = Report(mode)
    try:
        prepare_process(module_path, args)
    except UsageError as exc:
        REPORT.error = str(exc)
        say(str(exc))
        return EXIT_USAGE
    runner = {"unittest": run_unittest, "pytest": run_pytest, "script": run_script}[mode]
    return runner(module_path, args, hunt, REPORT)


REPORT = Report("script")


def entry_point():
    try:
        code = main(sys.argv[1:])
    except KeyboardInterrupt:
        traceback.print_exc()
        REPORT.error = "interrupted (KeyboardInterrupt)"
        code = EXIT_KEYBOARD_INTERRUPT
    except BaseException as exc:
        print("pymaccounter harness: internal error:", file=sys.stderr)
        traceback.print_exc()
        REPORT.error = "harness internal error: " + one_liner(exc)
        code = EXIT_INTERNAL
    try:
        shut_down_like_python()
    except KeyboardInterrupt:
        REPORT.error = REPORT.error or "interrupted (KeyboardInterrupt)"
        code = EXIT_KEYBOARD_INTERRUPT
    except BaseException:
        traceback.print_exc()
    if KILL_STRAYS:
        try:
            kill_strays()
        except BaseException:
            traceback.print_exc()
    write_trailer(REPORT)
    os._exit(code)


if __name__ == "__main__":
    entry_point()
