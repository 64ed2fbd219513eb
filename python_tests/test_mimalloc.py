"""mimalloc vs pymalloc (3.13+): sys._debugmallocstats() describes two different allocators, and only mimalloc's report counts objects above 512 bytes.

CPython 3.13 ships mimalloc next to its own pymalloc; PYTHONMALLOC=mimalloc
(or mimalloc_debug) selects it. This module starts the interpreter it runs
under twice more, once with PYTHONMALLOC=pymalloc and once with
PYTHONMALLOC=mimalloc, has each child hold COUNT small objects (100 bytes)
and then COUNT medium ones (2000 bytes), and reads each child's
sys._debugmallocstats() report.

Expected:
- pymalloc's report: "Small block threshold = 512" in 32 size classes, a
  table of pools and blocks in use per size class, and an arena section
  ("# arenas allocated current"); COUNT small objects add at least COUNT
  blocks in use to the table, COUNT medium objects add almost none: they
  are above 512 bytes, so pymalloc hands them to the C library's malloc
  and its table never sees them;
- mimalloc's report: a larger small-block threshold (16 KiB on 64-bit
  3.13) with more size classes, "Medium block threshold" and "Allocated
  Blocks / Bytes / Bytes Reserved / Bytes Committed" lines, and no arena
  section; "Allocated Blocks" rises by at least COUNT for the small AND for
  the medium objects, since mimalloc serves both;
- sys.getallocatedblocks() counts both kinds under both allocators (since
  3.12 it includes what pymalloc passes on to malloc), so it cannot tell
  them apart: the reports can.
The module's own allocator (whatever PYTHONMALLOC it was given) is read
from its own report the same way and must match what PYTHONMALLOC asks for.
Skips (exit 77) before 3.13, or on a build without mimalloc.

Docs: https://docs.python.org/3/using/cmdline.html#envvar-PYTHONMALLOC
(mimalloc, new in 3.13), https://docs.python.org/3/whatsnew/3.13.html
(mimalloc), https://docs.python.org/3/library/sys.html#sys._debugmallocstats,
https://docs.python.org/3/library/sys.html#sys.getallocatedblocks,
https://docs.python.org/3/c-api/memory.html (the pymalloc allocator).
"""
import json
import os
import re
import subprocess
import sys
import sysconfig
import tempfile

SKIP = 77
COUNT = 10000
SMALL, MEDIUM = 100, 2000      # bytes(100) is below 512 bytes, bytes(2000) above

if sys.version_info < (3, 13):
    print("SKIP: PYTHONMALLOC=mimalloc exists from Python 3.13 on; this is %d.%d" % sys.version_info[:2])
    sys.exit(SKIP)

# What each child runs: its report with nothing held, with COUNT small
# objects held, then with COUNT medium ones; reports go to stderr (fd 2),
# numbers from sys.getallocatedblocks() to stdout.
CHILD = """
import json, sys
def mark():
    sys.stderr.write("\\n@@ report\\n")
    sys.stderr.flush()
    sys._debugmallocstats()
    return sys.getallocatedblocks()
counts = [mark()]
held = [bytes(%d) for _ in range(%d)]
counts.append(mark())
del held
held = [bytes(%d) for _ in range(%d)]
counts.append(mark())
print(json.dumps(counts))
""" % (SMALL, COUNT, MEDIUM, COUNT)


def number(pattern, report):
    match = re.search(pattern, report, re.M)
    return int(match.group(1).replace(",", "")) if match else None


def describe(report):
    """What a _debugmallocstats() report says about its allocator."""
    table = re.findall(r"^\s*\d+\s+\d+\s+\d+\s+(\d+)\s+\d+\s*$", report, re.M)
    return {
        "threshold": number(r"^Small block threshold = (\d+)", report),
        "classes": number(r"^Small block threshold = \d+, in (\d+) size classes", report),
        "arenas": number(r"^# arenas allocated current\s*=\s*([\d,]+)", report),
        "medium": number(r"^Medium block threshold = (\d+)", report),
        "mi_blocks": number(r"^\s*Allocated Blocks: (\d+)", report),
        "table_blocks": sum(int(blocks) for blocks in table),
    }


def allocator(facts):
    if facts["medium"] is not None and facts["mi_blocks"] is not None:
        return "mimalloc"
    if facts["arenas"] is not None:
        return "pymalloc"
    return "malloc"


def child(pythonmalloc):
    env = dict(os.environ, PYTHONMALLOC=pythonmalloc)
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    if done.returncode != 0:
        return None, done.stderr.strip().splitlines()[-1:]
    reports = done.stderr.split("@@ report\n")[1:]
    return [describe(report) for report in reports], json.loads(done.stdout)


def own_report():
    """This process's own report: _debugmallocstats writes to fd 2, so point fd 2 at a file."""
    sys.stderr.flush()
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        return tmp.read().decode("ascii", "replace")


mi, mi_counts = child("mimalloc")
if mi is None:
    print("SKIP: this %s build refuses PYTHONMALLOC=mimalloc: %s" % (sys.version.split()[0], mi_counts))
    sys.exit(SKIP)
py, py_counts = child("pymalloc")
assert py is not None, "PYTHONMALLOC=pymalloc failed: %s" % py_counts

for name, (idle, small, medium), counts in (("pymalloc", py, py_counts), ("mimalloc", mi, mi_counts)):
    print("%s: small-block threshold %s bytes in %s size classes, arena section: %s, medium threshold: %s"
          % (name, idle["threshold"], idle["classes"], idle["arenas"] is not None, idle["medium"]))
    print("  report's block count with nothing held / %d x %d B / %d x %d B: %s / %s / %s"
          % (COUNT, SMALL, COUNT, MEDIUM,
             *(facts["mi_blocks" if name == "mimalloc" else "table_blocks"] for facts in (idle, small, medium))))
    print("  sys.getallocatedblocks(): %d / %d / %d" % tuple(counts))
    assert allocator(idle) == name, "the %s child's report looks like %s" % (name, allocator(idle))
    # Both count the medium objects in getallocatedblocks: it cannot tell the allocators apart.
    assert counts[1] - counts[0] >= COUNT and counts[2] - counts[0] >= COUNT, \
        "%s: sys.getallocatedblocks() should count every held object" % name

idle, small, medium = py
assert idle["threshold"] == 512 and idle["classes"] == 32, "pymalloc serves objects up to 512 bytes"
assert idle["medium"] is None and idle["mi_blocks"] is None, "pymalloc's report has no mimalloc section"
assert small["table_blocks"] - idle["table_blocks"] >= COUNT, "small objects fill pymalloc's size classes"
assert medium["table_blocks"] - idle["table_blocks"] < COUNT // 10, \
    "objects above 512 bytes bypass pymalloc's table (went to malloc)"

idle, small, medium = mi
assert idle["threshold"] > 512 and idle["classes"] > 32, "mimalloc's small blocks go further"
assert idle["arenas"] is None, "mimalloc's report has no pymalloc arenas"
assert small["mi_blocks"] - idle["mi_blocks"] >= COUNT, "mimalloc counts the small objects"
assert medium["mi_blocks"] - idle["mi_blocks"] >= COUNT, "mimalloc serves and counts the medium ones too"

# This very process: its report must show what PYTHONMALLOC asked for.
requested = "" if sys.flags.ignore_environment else os.environ.get("PYTHONMALLOC", "")
build_default = "pymalloc" if sysconfig.get_config_var("WITH_PYMALLOC") else "malloc"
expected = {"mimalloc": "mimalloc", "mimalloc_debug": "mimalloc", "malloc": "malloc", "malloc_debug": "malloc",
            "pymalloc": "pymalloc", "pymalloc_debug": "pymalloc"}.get(requested, build_default)
mine = allocator(describe(own_report()))
print("this process: PYTHONMALLOC=%r, its report shows %s" % (requested, mine))
assert mine == expected, "PYTHONMALLOC=%r should run %s, the report shows %s" % (requested, expected, mine)
sys.exit(0)
