"""structlog set-up: console or JSON lines on stderr, with secrets masked in every event."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import structlog

from agentd.kernel.redact import Redactor


class _Tee:
    """Writes every log line to stderr and, when given, appends it to the daemon's log file."""

    def __init__(self, path: Path | None) -> None:
        self._file = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8", buffering=1)

    def write(self, text: str) -> None:
        sys.stderr.write(text)
        if self._file is not None and not self._file.closed:
            self._file.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


_tee: _Tee | None = None  # the current sink, closed when logging is configured again


def configure_logging(
    redactor: Redactor, fmt: str = "console", level: int = logging.INFO, log_file: Path | None = None
) -> None:
    """Configure structlog for the process; every event passes through the redactor last-but-one.

    With `log_file`, every line is also appended there (what `agentd logs` reads).
    """
    global _tee  # noqa: PLW0603 - structlog's configuration is process-wide too
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    if _tee is not None:
        _tee.close()
    _tee = _Tee(log_file)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redactor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=_tee),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
