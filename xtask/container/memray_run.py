"""Runs a script under memray's tracker, as `python3 -m memray run` would, but faithfully.

    python3 -u memray_run.py CAPTURE NOTES_FD SCRIPT [ARGS...]
    python3 -u memray_run.py - NOTES_FD SCRIPT [ARGS...]

Run by the container's wrapper (`--memray`) in place of `python3 -u SCRIPT`:
- memray's CLI imports argparse, rich and more, which leave cyclic garbage
  behind: a module's own `gc.collect()` would find it (96 objects). Here
  the tracker starts, then one collection clears what the start-up left, and
  only then the script runs, in a fresh `__main__` with its own `sys.argv`
  and `sys.path[0]`;
- memray's start-up warnings ("Correcting symbol for malloc", once per
  process) go to NOTES_FD, not to the module's stderr, followed by a line
  `profiler_rss_bytes=N`: the resident memory memray's import and start
  added before the script ran. NOTES_FD is closed before the script starts.

The capture is memray's non-aggregated format, which survives a module
killed by the memory limit. memray_summary.py reads it once the module ended.

CAPTURE `-`: no tracker of ours. The script (the harness, on a pytest file
using pytest-memray's markers) has pytest-memray record each test with its
own tracker, the only one (memray runs one at a time), and keep the captures
for memray_summary.py; the notes say `recording=tests`, which the script
cannot forge (NOTES_FD is closed before it starts).
"""

import os
import sys


def resident_bytes():
    """This process's resident set (VmRSS), or 0 when /proc does not say."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def start_tracker(capture, notes_fd):
    """memray's tracker, started with memray's own log lines sent to NOTES_FD."""
    before = resident_bytes()
    saved = os.dup(2)
    os.dup2(notes_fd, 2)
    try:
        import memray

        # overwrite: the runner made the (empty) file, in a folder the module
        # cannot write; no compression, which would write a second file there.
        destination = memray.FileDestination(path=capture, overwrite=True, compress_on_exit=False)
        tracker = memray.Tracker(destination=destination, native_traces=False, follow_fork=False)
        tracker.__enter__()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    os.write(notes_fd, b"profiler_rss_bytes=%d\n" % max(resident_bytes() - before, 0))
    os.close(notes_fd)
    return tracker


def main():
    capture, notes_fd, script = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    import gc
    import importlib.machinery

    # Read and compiled before the tracker starts, and run in a fresh
    # `__main__` as `python3 SCRIPT` runs it: runpy's own work (probing the
    # path as a zip archive, importing pkgutil) would show as the script's.
    with open(script, "rb") as source:
        code = compile(source.read(), script, "exec")
    main_module = type(sys)("__main__")
    main_module.__file__ = script
    main_module.__cached__ = None
    main_module.__loader__ = importlib.machinery.SourceFileLoader("__main__", script)
    main_module.__builtins__ = __builtins__
    sys.modules["__main__"] = main_module
    sys.argv = sys.argv[3:]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    if capture == "-":
        os.write(notes_fd, b"recording=tests\n")
        os.close(notes_fd)
        exec(code, main_module.__dict__)
        return
    tracker = start_tracker(capture, notes_fd)
    # What the launcher and memray's start left unreachable is not the script's.
    gc.collect()
    try:
        exec(code, main_module.__dict__)
    finally:
        tracker.__exit__(None, None, None)


if __name__ == "__main__":
    main()
