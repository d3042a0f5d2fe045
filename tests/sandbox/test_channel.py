"""agentd's end of the runner's connection: who may connect, and answers matched to requests."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sandbox.channel import Peer, RunnerChannel, RunnerListener, is_the_runner

HOLD = "import socket, sys, time; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(30)"


def test_only_the_containers_init_as_the_sandbox_user_is_the_runner() -> None:
    """The peer must run as the sandbox uid and be the container's init (or invisible: pid 0)."""
    assert is_the_runner(Peer(4242, 10001, 10001), init_pid=4242, uid=10001)
    assert is_the_runner(Peer(0, 10001, 10001), init_pid=4242, uid=10001)  # agentd in a container of its own
    assert not is_the_runner(Peer(4243, 10001, 10001), init_pid=4242, uid=10001)  # another process
    assert not is_the_runner(Peer(4242, 0, 0), init_pid=4242, uid=10001)  # another user
    assert not is_the_runner(Peer(0, 10001, 10001), init_pid=0, uid=10001)  # the container is not running


def test_listener_keeps_the_admitted_peer_and_drops_the_rest(tmp_path: Path) -> None:
    """A host process that connects first is dropped; the admitted one is kept; then the socket is gone."""
    listener = RunnerListener(tmp_path / "runner.sock", None)
    intruder = socket.socket(socket.AF_UNIX)
    intruder.connect(str(listener.path))
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(listener.path)])
    try:
        conn = listener.accept(lambda peer: peer.pid == holder.pid, time.monotonic() + 10, lambda: None)
        listener.close()
        assert Peer(holder.pid, os.getuid(), os.getgid()) == Peer(*_ucred(conn))
        assert intruder.recv(1) == b""  # closed on it
        assert not listener.path.exists()
        with socket.socket(socket.AF_UNIX) as probe, pytest.raises(FileNotFoundError):
            probe.connect(str(listener.path))
        conn.close()
    finally:
        holder.kill()
        holder.wait()
        intruder.close()
        listener.close()


def test_listener_gives_up_at_its_deadline(tmp_path: Path) -> None:
    """Nobody admitted before the deadline: TimeoutError, and `waiting` ran meanwhile."""
    listener = RunnerListener(tmp_path / "runner.sock", None)
    polls: list[None] = []
    try:
        with pytest.raises(TimeoutError):
            listener.accept(lambda _peer: True, time.monotonic() + 0.3, lambda: polls.append(None))
    finally:
        listener.close()
    assert polls


def test_a_long_run_directory_still_works(tmp_path: Path) -> None:
    """A socket path longer than sun_path allows is bound through its directory's descriptor."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    listener = RunnerListener(deep / "runner.sock", None)
    try:
        assert listener.path.is_socket()
        assert oct(listener.path.stat().st_mode & 0o777) == oct(0o600)
    finally:
        listener.close()


def test_a_runner_of_another_protocol_is_refused() -> None:
    """A peer greeting with an older protocol is refused (a stand-in peer: no current image speaks one)."""
    ours, theirs = socket.socketpair()
    theirs.sendall(json.dumps({"hello": "agentd-runner", "version": "1", "pid": 1}).encode() + b"\n")
    channel = RunnerChannel(ours, "old")
    try:
        with pytest.raises(ValueError, match="protocol 2"):
            channel.hello(1.0)
    finally:
        channel.close()
        theirs.close()


def test_pending_requests_fail_when_the_connection_ends() -> None:
    """A request waiting for its answer fails at once when the runner goes away, not at its deadline."""
    ours, theirs = socket.socketpair()
    theirs.sendall(b'{"hello": "agentd-runner", "version": "2", "pid": 1}\n')
    channel = RunnerChannel(ours, "gone")
    channel.hello(1.0)
    errors: list[OSError] = []

    def ask() -> None:
        try:
            channel.request({"op": "ping"}, timeout_s=30)
        except OSError as exc:
            errors.append(exc)

    asking = threading.Thread(target=ask)
    started = time.monotonic()
    asking.start()
    time.sleep(0.2)
    theirs.close()
    asking.join(timeout=5)
    channel.close()
    assert errors
    assert time.monotonic() - started < 5


def _ucred(conn: socket.socket) -> tuple[int, int, int]:
    """The peer's pid, uid and gid read straight from the kernel (not through the code under test)."""
    pid, uid, gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    return pid, uid, gid
