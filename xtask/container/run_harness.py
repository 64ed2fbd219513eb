"""Starts harness.py from the bytecode the test image compiled for it.

Python compiles a script named on its command line every time it runs (only
imported modules get a cached .pyc), and the harness is large: compiling it
cost more CPU than starting the interpreter. Loaded by path under a name of
its own (so a module's own `harness` is not shadowed), it reads the .pyc that
the Dockerfile wrote next to it; without one (another interpreter, a
PYTHONPYCACHEPREFIX) it compiles as before.
"""

import importlib.util
import os
import sys

spec = importlib.util.spec_from_file_location(
    "pymaccounter_harness", os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness.py")
)
harness = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = harness
spec.loader.exec_module(harness)
harness.entry_point()
