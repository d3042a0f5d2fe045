"""A Docker endpoint a test can take away and bring back: a unix-socket forwarder to the real engine.

Restarting the shared Docker engine would break every other test on the machine, so a fault test
points agentd's DOCKER_HOST at this proxy instead and stops it (the endpoint is gone: connections
are cut and new ones refused) and starts it again.
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
import threading
from pathlib import Path

ENGINE = Path("/var/run/docker.sock")


class DockerEndpoint:
    """A unix socket forwarding every connection to the engine's socket, until stopped."""

    def __init__(self, target: Path = ENGINE) -> None:
        self.target = target
        self.path = Path(tempfile.mkdtemp(prefix="agentd-dk-")) / "docker.sock"  # short: sun_path is ~107 bytes
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The DOCKER_HOST value that reaches the engine through this endpoint."""
        return f"unix://{self.path}"

    def start(self) -> DockerEndpoint:
        """Listen and forward."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name="docker-endpoint", daemon=True).start()
        return self

    def stop(self) -> None:
        """The engine is gone: refuse new connections and cut the open ones."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        self.path.unlink(missing_ok=True)
        with self._lock:
            cut, self._open = self._open, set()
        for sock in cut:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(str(self.target))
            except OSError:
                client.close()
                upstream.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes one way until either side closes."""
    try:
        while data := source.recv(1 << 16):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
