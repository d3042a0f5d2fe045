"""agentd's end of a runner's one connection: a listener that admits only the container's PID 1, then requests by id.

agentd listens in a run directory it owns, mounted read-only into the container; the runner
connects at start. The first peer whose credentials are the container's init and the sandbox user
is kept, the listener is removed, and nothing else can ever connect.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUNNER_PROTOCOL = "2"
MAX_ANSWER_BYTES = 64 << 20
ACCEPT_POLL_S = 0.05
_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass(frozen=True)
class Peer:
    """Who is at the other end of a unix socket, as the kernel says (SO_PEERCRED)."""

    pid: int
    uid: int
    gid: int


def peer_of(sock: socket.socket) -> Peer:
    """The kernel's credentials of a connected unix socket's peer."""
    pid, uid, gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    return Peer(pid, uid, gid)


def is_the_runner(peer: Peer, init_pid: int, uid: int) -> bool:
    """Whether a peer is the container's init running as the sandbox user.

    A pid of 0 means the peer lives in a pid namespace agentd cannot see, which happens only when
    agentd itself runs in a container; then the uid, the private run directory and the moment
    (nothing but the runner runs in a container before it connected) vouch for it.
    """
    return peer.uid == uid and peer.pid in {init_pid, 0} and init_pid > 0


@contextlib.contextmanager
def _short_path(path: Path) -> Iterator[str]:
    """`path`, or a /proc/self/fd alias of it when it is too long for sun_path (~107 bytes)."""
    if len(os.fsencode(path)) < 100:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


class RunnerListener:
    """A unix socket in agentd's run directory, waiting for one sandbox's runner."""

    def __init__(self, path: Path, owner: tuple[int, int] | None, mode: int = 0o600) -> None:
        """Listen at `path` with `mode`; `owner` (root only) hands the socket to the sandbox user."""
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with _short_path(path) as address:
                self._sock.bind(address)
            path.chmod(mode)
            if owner is not None:
                os.chown(path, *owner)
            self._sock.listen(4)
            self._sock.settimeout(ACCEPT_POLL_S)
        except BaseException:
            self.close()
            raise

    def accept(self, admit: Callable[[Peer], bool], deadline: float, waiting: Callable[[], None]) -> socket.socket:
        """The first connection whose peer `admit` accepts; others are closed. `waiting` runs between polls.

        Raises TimeoutError at `deadline` (time.monotonic()).
        """
        while True:
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise TimeoutError("the runner did not connect") from None
                waiting()
                continue
            if admit(peer_of(conn)):
                return conn
            conn.close()

    def close(self) -> None:
        """Stop listening and remove the socket file, so nothing else can connect; idempotent."""
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class RunnerChannel:
    """The one connection to one runner; requests carry ids, so several may be in flight at once."""

    def __init__(self, sock: socket.socket, name: str) -> None:
        """Take over a connected socket; the runner's hello is read with `hello`."""
        sock.settimeout(None)
        self._sock = sock
        self._reader = sock.makefile("rb")
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._waiting: dict[int, queue.SimpleQueue[dict[str, Any] | OSError]] = {}
        self._broken = ""
        self._thread: threading.Thread | None = None
        self._name = name

    def hello(self, timeout_s: float) -> dict[str, Any]:
        """Read the runner's greeting, then start reading answers; raises ValueError on a wrong protocol."""
        self._sock.settimeout(timeout_s)
        greeting = self._read_line()
        self._sock.settimeout(None)
        if greeting.get("hello") != "agentd-runner" or greeting.get("version") != RUNNER_PROTOCOL:
            raise ValueError(f"the runner speaks {greeting!r}, agentd speaks protocol {RUNNER_PROTOCOL}")
        self._thread = threading.Thread(target=self._read_answers, name=f"agentd-runner-{self._name}", daemon=True)
        self._thread.start()
        return greeting

    def request(self, payload: Mapping[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send one request and wait for its answer; OSError when the connection fails or the answer is late."""
        box: queue.SimpleQueue[dict[str, Any] | OSError] = queue.SimpleQueue()
        with self._lock:
            if self._broken:
                raise OSError(self._broken)
            request_id = next(self._ids)
            self._waiting[request_id] = box
        try:
            line = json.dumps({**payload, "id": request_id}).encode() + b"\n"
            with self._send_lock:
                self._sock.sendall(line)
            answer = box.get(timeout=timeout_s)
        except queue.Empty:
            raise TimeoutError(f"no answer within {timeout_s:.0f}s") from None
        finally:
            with self._lock:
                self._waiting.pop(request_id, None)
        if isinstance(answer, OSError):
            raise answer
        return answer

    def _read_line(self) -> dict[str, Any]:
        line = self._reader.readline(MAX_ANSWER_BYTES + 1)
        if not line:
            raise ConnectionError("the runner closed the connection")
        if len(line) > MAX_ANSWER_BYTES:
            raise ValueError(f"runner answer longer than {MAX_ANSWER_BYTES} bytes")
        answer = json.loads(line)
        if not isinstance(answer, dict):
            raise ValueError("runner answer is not a JSON object")  # noqa: TRY004 - malformed, like bad JSON
        return answer

    def _read_answers(self) -> None:
        try:
            while True:
                answer = self._read_line()
                with self._lock:
                    box = self._waiting.get(answer.get("id", 0))
                if box is not None:
                    box.put(answer)
        except (OSError, ValueError) as exc:
            self._fail(f"the connection to the runner failed: {exc}")

    def _fail(self, reason: str) -> None:
        with self._lock:
            self._broken = self._broken or reason
            boxes = list(self._waiting.values())
        for box in boxes:
            box.put(ConnectionError(reason))

    def close(self) -> None:
        """Close the connection (the runner then kills everything and exits); idempotent."""
        self._fail("the sandbox is closed")
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._reader.close()
        self._sock.close()
