"""structlog set-up: console or JSON lines on stderr, with secrets masked in every event."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from agentd.redact import Redactor


def configure_logging(redactor: Redactor, fmt: str = "console", level: int = logging.INFO) -> None:
    """Configure structlog for the process; every event passes through the redactor last-but-one."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
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
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
