#!/usr/bin/env bash
# Installs what agentd needs on a Debian/Ubuntu machine and is safe to run again:
# system packages, a running Docker engine, the Python venv, and the sandbox image.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

say() { printf '==> %s\n' "$*"; }

need=()
command -v git >/dev/null || need+=(git)
command -v go >/dev/null || need+=(golang-go)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v chromium >/dev/null || need+=(chromium)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v npm >/dev/null || need+=(npm)
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
[ -f /usr/share/postgresql/15/extension/hypopg.control ] || need+=(postgresql-15-hypopg)
if ! docker info >/dev/null 2>&1 && ! command -v dockerd >/dev/null; then need+=(docker.io); fi
if [ "${#need[@]}" -gt 0 ]; then
    say "installing system packages: ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    say "no Docker engine answers; starting dockerd"
    if command -v systemctl >/dev/null && systemctl list-unit-files docker.service >/dev/null 2>&1 \
        && $SUDO systemctl start docker 2>/dev/null; then
        :
    else
        $SUDO sh -c 'nohup dockerd >/var/log/agentd-dockerd.log 2>&1 &'
    fi
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/agentd-dockerd.log" >&2; exit 1; }
fi

# Python packages come from the lock files in requirements/ (hashes checked), never from open ranges.
UV_DIR=".tools/uv"
UV="$UV_DIR/bin/uv"
export UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1
if [ ! -x "$UV" ] || [ requirements/uv.lock -nt "$UV_DIR/.installed" ]; then
    say "bootstrapping uv from requirements/uv.lock"
    rm -rf "$UV_DIR"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --require-hashes \
        --target "$UV_DIR" -r requirements/uv.lock
    touch "$UV_DIR/.installed"
fi

stamp="$VENV/.installed"
if [ ! -x "$VENV/bin/agentd" ] || [ requirements/dev.lock -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    say "installing agentd and its locked Python dependencies into $VENV"
    [ -x "$VENV/bin/python" ] || "$UV" venv --quiet --python "$PYTHON" "$VENV"
    "$UV" pip sync --quiet --python "$VENV/bin/python" --require-hashes requirements/dev.lock
    "$UV" pip install --quiet --python "$VENV/bin/python" --no-deps \
        --build-constraints requirements/build.lock --editable .
    touch "$stamp"
fi

# The forges' own artefacts the tests check against (GitHub's webhook examples and REST description), exactly as
# tests/artefacts/package-lock.json pins them, so a new release never changes what the tests see.
ARTEFACTS=tests/artefacts
if [ ! -f "$ARTEFACTS/node_modules/.installed" ] || [ "$ARTEFACTS/package-lock.json" -nt "$ARTEFACTS/node_modules/.installed" ]; then
    say "installing the forge artefacts for the tests into $ARTEFACTS/node_modules (npm ci)"
    npm ci --prefix "$ARTEFACTS" --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null
    touch "$ARTEFACTS/node_modules/.installed"
fi

say "sandbox image"
"$VENV/bin/agentd" sandbox build --config /dev/null/agentd.toml
