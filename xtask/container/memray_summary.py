"""Summarises what memray recorded of one module, in the module's own container.

    python3 -I memray_summary.py CAPTURE NOTES

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
"""

import json
import os
import sys
import tempfile

TOP_SITES = 5
MAX_STACKS = 2000
MAX_DEPTH = 64
MAX_TEXT = 300
MAX_NOTES = 4096
# The launcher's frame, below the script's own.
LAUNCHER = ("/opt/pymaccounter/memray_run.py",)


def text(value):
    return str(value)[:MAX_TEXT]


def read_notes(path):
    """memray's start-up log lines and the profiler's resident bytes, from memray_run.py."""
    notes, profiler = [], None
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_NOTES)
    except OSError:
        return notes, profiler
    for line in data.decode("utf-8", "replace").splitlines():
        if line.startswith("profiler_rss_bytes="):
            try:
                profiler = int(line.split("=", 1)[1])
            except ValueError:
                pass
        elif line.strip():
            notes.append(text(line))
    return notes, profiler


def launcher_frame(frame):
    _, filename, _ = frame
    return filename in LAUNCHER


def stacks_of(records):
    """(frames root first, bytes, allocations) per distinct stack, largest first."""
    merged = {}
    for record in records:
        frames = list(reversed(record.stack_trace()))
        while frames and launcher_frame(frames[0]):
            frames.pop(0)
        if not frames:
            continue  # the launcher's own (reading its RSS once memray started)
        key = tuple((text(f), text(name), int(line)) for f, name, line in frames[:MAX_DEPTH])
        size, count = merged.get(key, (0, 0))
        merged[key] = (size + record.size, count + record.n_allocations)
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


def main(argv):
    capture, notes_path = argv[0], argv[1]
    out = sys.stdout
    # memray's reader logs to descriptor 2 (a corrupt record, say): kept as notes.
    log = tempfile.TemporaryFile()
    os.dup2(log.fileno(), 2)
    notes, profiler = read_notes(notes_path)
    try:
        result = summary(capture)
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
