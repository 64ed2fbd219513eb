"""Collects what memray recorded of one module, inside the test image.

Run by the runner in a second container after the module's own ended, with
the folder holding memray's capture file mounted read-only and a fresh
folder, which the module never saw, to write into:

    python3 memray_collect.py CAPTURE_FILE OUT_FOLDER [--leaks]

It writes into OUT_FOLDER:
- summary.json: peak heap, allocation totals, the allocator that ran and the
  five largest allocation sites (what the runner reports);
- flamegraph.html: memray's flame graph (its leaks flame graph with
  --leaks), with the scripts and styles memray's Debian package loads from
  /usr/share inlined, so that the file works where it is opened, outside
  the image. The plotly and d3 plugins memray loads from a CDN still need
  the viewer's network.

The capture is memray's non-aggregated format, which survives a module
killed by the memory limit. Exit 0 when both files were written.
"""

import json
import os
import re
import subprocess
import sys

TOP_SITES = 5
LOCAL_ASSET = re.compile(
    r'<script([^>]*?)\ssrc="(/usr/share/[^"]+)"([^>]*)>\s*</script>'
    r'|<link([^>]*?)\shref="(/usr/share/[^"]+\.css)"([^>]*)/?>'
)


def memray(*args):
    """Runs memray's CLI; its output goes to our stderr, as it explains failures."""
    command = [sys.executable, "-m", "memray", *args]
    completed = subprocess.run(command, stdout=subprocess.DEVNULL)
    if completed.returncode != 0:
        raise SystemExit("memray %s failed (exit %d)" % (args[0], completed.returncode))


def local_file(path):
    """The file an /usr/share path names, or its versioned sibling: Debian's memray
    names /usr/share/javascript/bootstrap/... while the package installs bootstrap5/."""
    if os.path.isfile(path):
        return path
    parts = path.split("/")
    if len(parts) > 5 and parts[3] == "javascript":
        root = "/usr/share/javascript"
        for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
            candidate = os.path.join(root, name, *parts[5:])
            if name.startswith(parts[4]) and os.path.isfile(candidate):
                return candidate
    return None


def inline_local_assets(html):
    """Replaces <script src> and stylesheet <link href> under /usr/share by the file's text."""

    def replace(match):
        path = local_file(match.group(2) or match.group(5))
        if path is None:
            return match.group(0)
        with open(path, encoding="utf-8") as asset:
            text = asset.read()
        if match.group(2):
            # A script's text may not close its own element.
            return "<script%s%s>%s</script>" % (match.group(1), match.group(3), text.replace("</script", "<\\/script"))
        return "<style>%s</style>" % text.replace("</style", "<\\/style")

    return LOCAL_ASSET.sub(replace, html)


def summary_of(stats):
    metadata = stats.get("metadata", {})
    return {
        "peak_memory_bytes": metadata.get("peak_memory"),
        "total_allocations": stats.get("total_num_allocations"),
        "total_bytes_allocated": stats.get("total_bytes_allocated"),
        "python_allocator": metadata.get("python_allocator"),
        "top_allocations_by_size": [
            {"location": site.get("location"), "size_bytes": site.get("size")}
            for site in stats.get("top_allocations_by_size", [])[:TOP_SITES]
        ],
    }


def main(argv):
    capture, folder = argv[0], argv[1]
    leaks = "--leaks" in argv[2:]
    stats_path = os.path.join(folder, "stats.json")
    flamegraph = os.path.join(folder, "flamegraph.html")
    memray("stats", "--json", "--force", "-o", stats_path, capture)
    with open(stats_path, encoding="utf-8") as file:
        summary = summary_of(json.load(file))
    memray("flamegraph", *(["--leaks"] if leaks else []), "--force", "-o", flamegraph, capture)
    with open(flamegraph, encoding="utf-8") as file:
        html = inline_local_assets(file.read())
    with open(flamegraph, "w", encoding="utf-8") as file:
        file.write(html)
    summary["flamegraph"] = "leaks" if leaks else "allocations"
    with open(os.path.join(folder, "summary.json"), "w", encoding="utf-8") as file:
        json.dump(summary, file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
