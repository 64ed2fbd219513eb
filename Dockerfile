# The test image: a Python base plus the test modules. The runner builds it
# with a content-derived tag; see ARCHITECTURE.md.
# On a machine with no registry, `cargo xtask base-image` makes an offline
# base from the Debian archive, and the runner passes it here by itself.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# GNU time is each module's parent in its container: it reads the module's
# peak RSS from the kernel when the module ends (Debian package, no PyPI).
RUN test -x /usr/bin/time || \
    (apt-get update && apt-get install -y --no-install-recommends time && rm -rf /var/lib/apt/lists/*)

# Modules are plain scripts; nothing is written next to them (read-only root).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp

COPY tests/ /opt/pymaccounter/tests/
RUN chmod -R a+rX /opt/pymaccounter
WORKDIR /opt/pymaccounter/tests
