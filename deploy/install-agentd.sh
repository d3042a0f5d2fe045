#!/bin/sh
# Installs agentd into /opt/agentd/venv from a directory of wheels, without any index: first its
# dependencies exactly as the lock pins them (hashes checked; --no-deps because the lock is complete and
# pip's resolver takes a dependency's extras, e.g. githubkit's hishel[async,httpx], for an unpinned
# requirement), then agentd's own wheel, then a check that nothing is missing. Both image builds run it (deploy/Dockerfile, deploy/offline.Dockerfile).
# Usage: install-agentd.sh WHEEL_DIR LOCK_FILE
set -eu
wheels="$1"
lock="$2"
python3 -m venv /opt/agentd/venv
pip="/opt/agentd/venv/bin/pip --no-cache-dir --disable-pip-version-check --no-input"
$pip install --no-index --find-links "$wheels" --only-binary=:all: --require-hashes --no-deps -r "$lock"
$pip install --no-index --no-deps "$wheels"/agentd-*.whl
$pip check
