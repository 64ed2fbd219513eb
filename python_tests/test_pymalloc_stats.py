"""pymalloc: sys._debugmallocstats() shows arenas and pools that grow when many small objects are made and shrink when they are freed.

Expected under pymalloc (PYTHONMALLOC unset, default, pymalloc, debug or
pymalloc_debug on a build with pymalloc):
- the report has a size-class table and "# arenas allocated current";
- creating COUNT small bytes objects (each well under pymalloc's 512-byte
  limit) adds at least COUNT "blocks in use", more pools and more arenas;
- freeing them brings "blocks in use" back to about the start, and arenas that became empty are
  returned ("# arenas allocated current" falls, "# arenas reclaimed" rises).
Arena and pool sizes differ between versions (256 KiB / 4 KiB on 3.9,
1 MiB / 16 KiB from 3.10), so they are read from the report, not assumed.
Under PYTHONMALLOC=malloc, malloc_debug, mimalloc or mimalloc_debug (3.13+)
pymalloc is not used and the report has no arena section: the module then
exits 77 (skip). Whether
pymalloc is in use is read from the report itself and cross-checked
against PYTHONMALLOC and the build's WITH_PYMALLOC setting.

sys._debugmallocstats() writes to the C-level stderr (file descriptor 2),
so fd 2 is pointed at a temporary file in /tmp while it runs. This keeps
the measurement in this very process (a subprocess would report on a
different heap).

Docs: https://docs.python.org/3/library/sys.html#sys._debugmallocstats,
https://docs.python.org/3/c-api/memory.html (The pymalloc allocator,
PYTHONMALLOC), https://docs.python.org/3/using/cmdline.html#envvar-PYTHONMALLOC,
https://docs.python.org/3/library/os.html#os.dup2.
"""
import os
import re
import sys
import sysconfig
import tempfile

SKIP = 77
COUNT = 200000          # small objects to create
PAYLOAD = 100           # bytes(100) is ~133 bytes: a pymalloc size class


def malloc_stats():
    """Run sys._debugmallocstats() and return what it wrote to fd 2."""
    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)   # restore stderr even if the call failed
            os.close(saved)
        tmp.seek(0)
        return tmp.read().decode("ascii", "replace")


def parse(report):
    """Pick the numbers this module reasons about out of the report."""
    def number(label):
        match = re.search(r"^# %s\s*=\s*([\d,]+)" % re.escape(label), report, re.M)
        return int(match.group(1).replace(",", ""))

    # Size-class rows: class, size, num pools, blocks in use, avail blocks.
    rows = re.findall(r"^\s*\d+\s+\d+\s+(\d+)\s+(\d+)\s+\d+\s*$", report, re.M)
    arena_size = re.search(r"^\d+ arenas \* (\d+) bytes/arena", report, re.M)
    return {
        "arenas": number("arenas allocated current"),
        "reclaimed": number("arenas reclaimed"),
        "pools": sum(int(pools) for pools, _ in rows),
        "blocks": sum(int(blocks) for _, blocks in rows),
        "arena_size": int(arena_size.group(1)) if arena_size else 0,
    }


def show(label, stats):
    print("%-22s arenas=%-5d pools=%-6d blocks in use=%-8d reclaimed=%d"
          % (label, stats["arenas"], stats["pools"], stats["blocks"], stats["reclaimed"]))


report = malloc_stats()
in_use = "# arenas allocated current" in report

# Cross-check with what the environment asked for. -E/-I make Python ignore
# PYTHONMALLOC, so it only counts when the environment is honoured.
requested = "" if sys.flags.ignore_environment else os.environ.get("PYTHONMALLOC", "")
built_with = bool(sysconfig.get_config_var("WITH_PYMALLOC"))
if requested in ("malloc", "malloc_debug", "mimalloc", "mimalloc_debug"):
    expected = False
elif requested in ("pymalloc", "pymalloc_debug"):
    expected = True
else:   # unset, "default" or "debug": whatever the build's default is
    expected = built_with
print("PYTHONMALLOC=%r, built with pymalloc: %s, report shows pymalloc arenas: %s"
      % (requested, built_with, in_use))
assert in_use == expected, "pymalloc in use (%s) is not what PYTHONMALLOC=%r implies (%s)" \
    % (in_use, requested, expected)

if not in_use:
    print("SKIP: pymalloc is not the allocator here, _debugmallocstats has no arenas to show")
    sys.exit(SKIP)

# Parse once more after a first full round, so that one-time costs (regex
# compilation and caches) are already paid when the start is measured.
parse(report)
start = parse(malloc_stats())
print("arena size: %d KiB" % (start["arena_size"] // 1024))
show("at start:", start)
assert start["arenas"] >= 1 and start["pools"] >= 1 and start["blocks"] >= 1, \
    "a running interpreter already uses pymalloc arenas, pools and blocks"

small = [bytes(PAYLOAD) for _ in range(COUNT)]
grown = parse(malloc_stats())
show("with %d objects:" % COUNT, grown)
assert grown["blocks"] - start["blocks"] >= COUNT, "each small object should use one block"
assert grown["pools"] > start["pools"], "more pools should be in use"
# COUNT * PAYLOAD bytes alone fill this many arenas; allow for one partly used arena.
assert grown["arenas"] - start["arenas"] >= COUNT * PAYLOAD // start["arena_size"] - 1, \
    "the new blocks should have needed new arenas"

del small
freed = parse(malloc_stats())
show("after freeing them:", freed)
# Back to about where it started: within 1% of COUNT, for the few objects
# this module itself keeps (e.g. the stats dicts).
assert freed["blocks"] - start["blocks"] <= COUNT // 100, "the blocks should be free again"
gained = grown["arenas"] - start["arenas"]
assert grown["arenas"] - freed["arenas"] >= gained // 2, "empty arenas should be released"
assert freed["reclaimed"] > grown["reclaimed"], "released arenas are counted as reclaimed"
sys.exit(0)
