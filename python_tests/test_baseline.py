"""Baseline: a module that only prints a greeting, showing that the container and the runner work.

Expected: the greeting and the interpreter's version are printed and the
process exits with status 0. Nothing about memory is checked here; if this
module fails, every other module's result is suspect too.

Docs: https://docs.python.org/3/library/sys.html (sys.version, sys.exit).
"""
import sys

print("Hello from pymaccounter's baseline module")
# The version line tells a reader which CPython this run used.
print("Python", sys.version.split()[0], "on", sys.platform)
sys.exit(0)
