"""Running agentd in tests: a config for a scripted team, `agentd run` as a process, waiting for the store to agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from psycopg.conninfo import conninfo_to_dict

REVIEWED_QUICKLY = {
    "reviewer": [
        {
            "tool_calls": [
                {
                    "name": "submit_review",
                    "arguments": {"verdict": "approve", "summary": "green and small", "findings": []},
                }
            ]
        }
    ]
}


def write_config(
    tmp_path: Path, source: str, script: Mapping[str, Any], extra: str = "", state: Path | None = None
) -> Path:
    """agentd.toml for `source` (`path = "…"` or `url = "…"` lines) and a scripted team; 6 s leases."""
    (tmp_path / "script.json").write_text(json.dumps(script))
    path = tmp_path / "agentd.toml"
    path.write_text(
        f'[daemon]\nstate_dir = "{state or tmp_path / "state"}"\nlease_s = 6\n'
        f"[repository]\n{source}\n"
        f'[models.default]\nprovider = "scripted"\nmodel = "m"\nscript = "{tmp_path / "script.json"}"\n'
        f"[prices.m]\ninput_usd_per_mtok = 0.0\noutput_usd_per_mtok = 0.0\n{extra}"
    )
    return path


def agentd(
    args: list[str], config: Path, env: Mapping[str, str] | None = None, *, output: Path | None = None
) -> subprocess.Popen[bytes]:
    """`agentd ARGS --config CONFIG` in its own process; its stdout and stderr go to `output` (else nowhere)."""
    with output.open("ab") if output is not None else open(os.devnull, "ab") as sink:  # noqa: PTH123 - /dev/null
        return subprocess.Popen(
            [sys.executable, "-m", "agentd", *args, "--config", str(config)],
            env={**os.environ, **(env or {})},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def queue_task(config: Path, description: str, env: Mapping[str, str] | None = None) -> int:
    """`agentd task DESCRIPTION`; the new task's id."""
    done = subprocess.run(
        [sys.executable, "-m", "agentd", "task", description, "--config", str(config)],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout.split()[1])


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.3) -> None:
    """Poll `check` until it holds; fail the test naming `what` when it does not within the time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


def store_url(dsn: str) -> str:
    """A libpq key=value DSN (with a search_path option) as the postgresql:// URL agentd's config takes."""
    parts = conninfo_to_dict(dsn)
    url = (
        f"postgresql://{parts['user']}:{quote(str(parts['password']))}@{parts['host']}:{parts['port']}/"
        f"{parts['dbname']}"
    )
    return url + (f"?options={quote(str(parts['options']))}" if parts.get("options") else "")
