"""The one way agentd starts a process on the host: argv only, its own process group, a deadline, capped output.

git, `git apply`, the host's Go build of the sandbox runner, debootstrap and the demo all go
through `run`. Whatever happens, the whole process group is gone when `run` returns, so nothing
a command started (or a hostile repository made it start) outlives the call.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

DEFAULT_OUTPUT_CAP = 8 << 20  # bytes kept of stdout and of stderr; the rest is read and dropped
_CHUNK = 1 << 16


@dataclass(frozen=True)
class ProcessResult:
    """What one process did: exit code, its output (capped), and whether the deadline or the cap hit."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    duration_ms: float
    timed_out: bool = False
    truncated: bool = False

    @property
    def ok(self) -> bool:
        """True when it exited 0 within its deadline, with nothing cut."""
        return self.exit_code == 0 and not self.timed_out and not self.truncated

    def reason(self, lines: int = 15) -> str:
        """Why it failed, for an error message: the deadline, the cap, or its last lines of output."""
        if self.timed_out:
            return f"no result within the deadline ({self.duration_ms / 1000:.0f}s); agentd killed it"
        if self.truncated:
            return "more output than agentd keeps; refused it"
        tail = "\n".join((self.stderr.strip() or self.stdout.strip()).splitlines()[-lines:])
        return f"exit code {self.exit_code}" + (f": {tail}" if tail else "")


class _Capped:
    """Reads a pipe to its end on a thread, keeping at most `cap` bytes."""

    def __init__(self, pipe: IO[bytes], cap: int) -> None:
        self.data = bytearray()
        self.truncated = False
        self._pipe, self._cap = pipe, cap
        self.thread = threading.Thread(target=self._read, name="process-output", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with self._pipe:
            while chunk := self._pipe.read(_CHUNK):
                room = self._cap - len(self.data)
                if len(chunk) > room:
                    self.truncated = True
                self.data += chunk[: max(0, room)]

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _feed(pipe: IO[bytes], data: bytes) -> None:
    try:
        with pipe:
            pipe.write(data)
    except (BrokenPipeError, OSError):
        pass  # the process stopped reading; its exit code says what it made of it


def run(
    argv: Sequence[str | Path],
    *,
    timeout_s: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | str | None = None,
    max_output: int = DEFAULT_OUTPUT_CAP,
) -> ProcessResult:
    """Run argv (never a shell) in a new process group; at `timeout_s` the group is killed.

    A missing program is exit code 127, like a shell says it. The group is killed when the
    leader exits too, so no child it left behind keeps running (or keeps its pipes open).
    """
    args = tuple(str(a) for a in argv)
    started = time.perf_counter()
    try:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    except (FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        return ProcessResult(args, 127, "", f"{args[0]}: cannot start: {exc}", 0.0)
    assert proc.stdout is not None
    assert proc.stderr is not None
    out, err = _Capped(proc.stdout, max_output), _Capped(proc.stderr, max_output)
    if stdin is not None:
        assert proc.stdin is not None
        data = stdin.encode() if isinstance(stdin, str) else stdin
        threading.Thread(target=_feed, args=(proc.stdin, data), name="process-input", daemon=True).start()
    timed_out = False
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        _kill_group(proc.pid)
        proc.wait()
    for reader in (out, err):
        reader.thread.join(timeout=5)
    return ProcessResult(
        args,
        proc.returncode if not timed_out else -signal.SIGKILL,
        out.text(),
        err.text(),
        (time.perf_counter() - started) * 1000,
        timed_out=timed_out,
        truncated=out.truncated or err.truncated,
    )
