"""The progress bar of `agentd eval run`: one line on stderr, redrawn in place; silent when stderr is no terminal."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

WIDTH = 24


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class Progress:
    """Counts finished runs and draws `[####....] 3/12 runs · 2 resolved · 0 wrong · 1m05s · ETA 3m15s`."""

    def __init__(self, total: int, stream: TextIO | None = None, *, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total, self.done, self.resolved, self.wrong = total, 0, 0, 0
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def bar(self) -> str:
        """The bar as text."""
        filled = WIDTH * self.done // self.total if self.total else WIDTH
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done) if self.done else None
        return (
            f"[{'#' * filled}{'.' * (WIDTH - filled)}] {self.done}/{self.total} runs · {self.resolved} resolved · "
            f"{self.wrong} published but wrong · {_clock(elapsed)}" + (f" · ETA {_clock(eta)}" if eta else "")
        )

    def draw(self) -> None:
        """Redraw the bar in place (nothing when disabled)."""
        if self.enabled:
            self.stream.write(f"\r\x1b[2K{self.bar()}")
            self.stream.flush()

    def advance(self, record: dict[str, Any]) -> None:
        """Count one finished run and redraw."""
        with self._lock:
            self.done += 1
            self.resolved += bool(record.get("resolved"))
            self.wrong += bool(record.get("published_but_wrong"))
            self.draw()

    def clear(self) -> None:
        """Wipe the bar so a line can be printed; `draw` puts it back."""
        if self.enabled:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()

    def close(self) -> None:
        """Leave the finished bar on its own line."""
        if self.enabled:
            self.draw()
            self.stream.write("\n")
            self.stream.flush()
