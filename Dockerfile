# The test image: a Python base, the monitor and the harness. The test modules
# are not copied in: each container mounts the test dir read-only, so editing
# a module builds nothing. The runner tags the image with a hash of this file,
# xtask/container/ and the base; see ARCHITECTURE.md.
# On a machine with no registry, `cargo xtask base-image` makes an offline
# base from the Debian archive, and the runner passes it here by itself.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# First, so that a failed download leaves no half-built layers behind.
# Perl runs each module's monitor (xtask/container/monitor.pl: the module's
# parent, its deadline, its peak RSS from the kernel, its memory over time);
# core Perl only, which every Debian-based image has (perl-base is essential).
RUN command -v perl >/dev/null || \
    (apt-get update && apt-get install -y --no-install-recommends perl-base && rm -rf /var/lib/apt/lists/*)

# HOME is writable. Nothing else is set for Python: a variable here would reach
# every Python a module starts (the runner gives the module's own interpreter
# -u instead), and bytecode is written as usual (imports from the read-only
# test dir just skip their cache; code written and imported in scratch space
# behaves as elsewhere).
ENV HOME=/tmp

COPY container/ /opt/pymaccounter/
# The shell each container's first process runs (the runner's wrapper), execute-only:
# the kernel makes a process running a file it cannot read non-dumpable, so a module
# (the same user, no capabilities) can neither read that process's memory, which holds
# the container's nonce, nor open its descriptors through /proc/1.
# And the harness's bytecode, once per image: the runner starts it through
# run_harness.py, which imports it, so no container compiles it again (the
# root is read-only: nothing could be cached at run time). Unchecked hashes:
# the image never changes under it.
# The monitor's perl likewise: the module can neither open the descriptors its
# figures go to nor change them in its memory.
RUN cp /bin/sh /opt/pymaccounter-sh && chmod 0111 /opt/pymaccounter-sh && \
    cp "$(command -v perl)" /opt/pymaccounter-perl && chmod 0111 /opt/pymaccounter-perl && \
    python3 -m compileall -q --invalidation-mode unchecked-hash /opt/pymaccounter/harness.py
