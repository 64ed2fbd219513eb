"""Summarises what memray recorded of one module, in the module's own container.

    python3 -I memray_summary.py CAPTURE NOTES TESTS

Run by the container's wrapper (`--memray`) once the module's process tree
ended and everything it left running was killed, with no descriptor of the
wrapper's open; `-I`, so that nothing the module left in the writable
folders (a `usercustomize`, a `.pth` under HOME) is imported. CAPTURE and
NOTES (what memray_run.py wrote before the module started) may have been
rewritten by the module: they are read as its data, and the runner reads
this output as untrusted too (bounded, parsed, rendered by itself).

Writes one JSON object on stdout: the heap's peak, the allocation totals,
the allocator that ran, the five largest allocation sites, memray's own log
lines, and the allocation stacks of the flame graph, root first (those alive
at the heap's peak; those never freed when the allocator is plain malloc,
memray's leaks view), the largest MAX_STACKS of them. The runner draws the
flame graph from these stacks (one SVG, no script or style from elsewhere).

When the notes say `recording=tests` (memray_run.py ran no tracker: a pytest
file using pytest-memray's markers, whose per-test trackers were the only
ones), the summary merges pytest-memray's per-test captures in the folder
TESTS instead (its own files, never a link, at most MAX_TEST_CAPTURES of at
most MAX_TEST_CAPTURE_BYTES each): the heap's peak is the largest test's own,
allocations are summed, the sites and stacks are those held at each test's
peak, summed over the tests (pytest-memray's frame around each test left
out), and `per_test_captures` says how many were merged. Those captures are
aggregated: they hold no total of bytes allocated.
"""

import json
import os
import stat
import sys
import tempfile

TOP_SITES = 5
MAX_STACKS = 2000
MAX_DEPTH = 64
MAX_TEXT = 300
MAX_NOTES = 4096
# The launcher's frame, below the script's own.
LAUNCHER = ("/opt/pymaccounter/memray_run.py",)
# pytest-memray's per-test captures: how many are read, and how large each may be.
MAX_TEST_CAPTURES = 20000
MAX_TEST_CAPTURE_BYTES = 64 << 20
# pytest-memray's wrapper around each test it records, below the test's own frame.
PYTEST_MEMRAY = "/pytest_memray/plugin.py"


def text(value):
    return str(value)[:MAX_TEXT]


def read_notes(path):
    """memray's start-up log lines, the profiler's resident bytes and what was
    recorded (`module`, or `tests`: pytest-memray's per-test captures), from memray_run.py."""
    notes, profiler, recording = [], None, "module"
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_NOTES)
    except OSError:
        return notes, profiler, recording
    for line in data.decode("utf-8", "replace").splitlines():
        if line == "recording=tests":
            recording = "tests"
        elif line.startswith("profiler_rss_bytes="):
            try:
                profiler = int(line.split("=", 1)[1])
            except ValueError:
                pass
        elif line.strip():
            notes.append(text(line))
    return notes, profiler, recording


def launcher_frame(frame):
    _, filename, _ = frame
    return filename in LAUNCHER


def add_stacks(merged, records, foreign=launcher_frame):
    """Adds each record's stack (root first, `foreign` frames at its root
    left out) to `merged`: {frames: (bytes, allocations)}."""
    for record in records:
        frames = list(reversed(record.stack_trace()))
        while frames and foreign(frames[0]):
            frames.pop(0)
        if not frames:
            continue  # the launcher's own (reading its RSS once memray started)
        key = tuple((text(f), text(name), int(line)) for f, name, line in frames[:MAX_DEPTH])
        size, count = merged.get(key, (0, 0))
        merged[key] = (size + record.size, count + record.n_allocations)


def stacks_of(records):
    """(frames root first, bytes, allocations) per distinct stack, largest first."""
    merged = {}
    add_stacks(merged, records)
    return ordered_stacks(merged)


def ordered_stacks(merged):
    ordered = sorted(merged.items(), key=lambda item: -item[1][0])
    kept = [{"frames": [list(f) for f in key], "bytes": size, "allocations": count} for key, (size, count) in ordered[:MAX_STACKS]]
    omitted = sum(size for _, (size, _) in ordered[MAX_STACKS:])
    return kept, omitted


def summary(capture):
    from memray import FileReader
    from memray._memray import compute_statistics

    reader = FileReader(capture)
    metadata = reader.metadata
    leaks = metadata.python_allocator == "malloc"
    records = (
        reader.get_leaked_allocation_records(merge_threads=True)
        if leaks
        else reader.get_high_watermark_allocation_records(merge_threads=True)
    )
    stacks, omitted = stacks_of(records)
    stats = compute_statistics(capture, num_largest=TOP_SITES + 2)
    sites = [(location, size) for location, size in stats.top_locations_by_size if location[1] not in LAUNCHER]
    return {
        "peak_memory_bytes": metadata.peak_memory,
        "total_allocations": stats.total_num_allocations,
        "total_bytes_allocated": stats.total_memory_allocated,
        "python_allocator": text(metadata.python_allocator),
        "top_allocations_by_size": [
            {"location": text("%s:%s:%s" % tuple(location)), "size_bytes": size}
            for location, size in sites[:TOP_SITES]
        ],
        "flamegraph": "leaks" if leaks else "allocations",
        "stacks": stacks,
        "omitted_bytes": omitted,
    }


def pytest_memray_frame(frame):
    _, filename, _ = frame
    return filename in LAUNCHER or filename.endswith(PYTEST_MEMRAY)


def test_captures(folder, notes):
    """Descriptors of pytest-memray's per-test captures in `folder`: regular
    files named *.bin right in it (the folder itself no link either), opened
    without following a link, at most MAX_TEST_CAPTURES of at most
    MAX_TEST_CAPTURE_BYTES each; what is left out is said in `notes`."""
    try:
        directory = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return []
    descriptors, left_out = [], 0
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if not entry.name.endswith(".bin"):
                    continue
                if len(descriptors) >= MAX_TEST_CAPTURES:
                    left_out += 1
                    continue
                try:
                    fd = os.open(entry.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=directory)
                except OSError:
                    left_out += 1
                    continue
                info = os.fstat(fd)
                if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_TEST_CAPTURE_BYTES:
                    descriptors.append(fd)
                else:
                    os.close(fd)
                    left_out += 1
    finally:
        os.close(directory)
    if left_out:
        notes.append("%d of pytest-memray's per-test captures left out (not regular files, too large, or past %d)" % (left_out, MAX_TEST_CAPTURES))
    return descriptors


def tests_summary(folder, notes):
    """pytest-memray's per-test captures merged (see the module's docstring)."""
    from memray import FileReader

    peak, allocations, allocator, merged, sites, read, unread = 0, 0, None, {}, {}, 0, []
    for fd in test_captures(folder, notes):
        try:
            reader = FileReader("/proc/self/fd/%d" % fd)
            metadata = reader.metadata
            records = list(reader.get_high_watermark_allocation_records(merge_threads=True))
        except Exception as error:  # one test's capture memray cannot read
            unread.append("%s: %s" % (type(error).__name__, error))
            continue
        finally:
            os.close(fd)
        read += 1
        peak = max(peak, metadata.peak_memory)
        allocations += metadata.total_allocations
        allocator = allocator or metadata.python_allocator
        add_stacks(merged, records, pytest_memray_frame)
        for record in records:
            frames = record.stack_trace()
            if frames and not pytest_memray_frame(frames[0]):
                site = "%s:%s:%s" % tuple(frames[0])
                sites[site] = sites.get(site, 0) + record.size
    if unread:
        notes.append(text("%d per-test captures memray cannot read, first: %s" % (len(unread), unread[0])))
    stacks, omitted = ordered_stacks(merged)
    largest = sorted(sites.items(), key=lambda item: -item[1])[:TOP_SITES]
    return {
        "peak_memory_bytes": peak,
        "total_allocations": allocations,
        "total_bytes_allocated": None,
        "python_allocator": text(allocator) if read else None,
        "top_allocations_by_size": [{"location": text(site), "size_bytes": size} for site, size in largest],
        "flamegraph": "tests",
        "stacks": stacks,
        "omitted_bytes": omitted,
        "per_test_captures": read,
    }


def main(argv):
    capture, notes_path, tests = argv[0], argv[1], argv[2]
    out = sys.stdout
    # memray's reader logs to descriptor 2 (a corrupt record, say): kept as notes.
    log = tempfile.TemporaryFile()
    os.dup2(log.fileno(), 2)
    notes, profiler, recording = read_notes(notes_path)
    try:
        result = tests_summary(tests, notes) if recording == "tests" else summary(capture)
    except Exception as error:  # memray's words for a capture it cannot read
        result = {"error": text("%s: %s" % (type(error).__name__, error))}
    log.seek(0)
    logged = [text(line) for line in log.read(MAX_NOTES).decode("utf-8", "replace").splitlines() if line.strip()]
    # memray's reader logs a record it cannot parse and goes on (memray 1.17
    # does for the harness's own captures too): notes, not a failure.
    notes.extend(logged)
    result["notes"] = notes
    result["profiler_rss_bytes"] = profiler
    json.dump(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
