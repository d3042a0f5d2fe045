#!/usr/bin/env bash
# Writes the lock files in requirements/ from pyproject.toml (and requirements/*.in), with hashes.
# Without --upgrade, versions already locked are kept; with it, every package moves to its newest release.
set -euo pipefail
cd "$(dirname "$0")/.."
UV="${UV:-.tools/uv/bin/uv}"
upgrade=()
if [ "${1:-}" = "--upgrade" ]; then upgrade=(--upgrade); fi
compile() {
    "$UV" pip compile --quiet --universal --python-version 3.11 --generate-hashes \
        --custom-compile-command "make lock" "${upgrade[@]}" "$@"
}
compile pyproject.toml --extra dev -o requirements/dev.lock
# the runtime set is the dev set's runtime part: the same versions, never a second resolution
compile pyproject.toml -c requirements/dev.lock -o requirements/runtime.lock
compile requirements/build.in -o requirements/build.lock
compile requirements/uv.in -o requirements/uv.lock
