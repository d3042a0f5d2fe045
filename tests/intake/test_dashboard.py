"""Dashboard: headless Chromium loads the page from a live API server and renders a finished debate."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentd.app import api_server
from agentd.intake.api import ApiServer
from agentd.kernel.redact import Redactor
from agentd.store.records import Activity
from agentd.store.sqlite import SQLiteStore
from tests.intake.test_api import TOKEN, api_config, record_debate, task_event

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BUDGET_MS = 10_000


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium binary; without one the tests fail in CI and are skipped elsewhere."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; scripts/setup.sh installs it")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return CHROMIUM


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[ApiServer, int]]:
    """A live API over a store holding a finished debate (task id returned), a queued task and a failed one."""
    store = SQLiteStore(str(tmp_path / "agentd.db"))
    done = store.enqueue(task_event("done", "Fix the cart total: Total subtracts instead of adding"), "Fix", None)[0]
    record_debate(store, done)
    phases = (("job", 0.0, 900.0, None), ("test run", 0.1, 300.0, "main"), ("gate", 0.5, 350.0, None))
    for name, offset, duration, lane in phases:
        span = {
            "span_id": name.replace(" ", "-"),
            "parent_id": None if name == "job" else "job",
            "name": name,
            "started_at": 1_800_000_000.0 + offset,
            "duration_ms": duration,
            "status": "ok",
            "attributes": json.dumps({"agentd.lane": lane} if lane else {}),
        }
        store.add_span(done, span)
    store.enqueue(task_event("later", "Speed up the checkout query"), "Speed up the checkout query", None)
    try:
        with api_server(api_config(tmp_path), store, Redactor(), env={"AGENTD_API_TOKEN": TOKEN}) as running:
            yield running, done
    finally:
        store.close()


def browse(chromium: str, url: str, tmp_path: Path, *action: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on a URL with a virtual-time budget that lets the page's fetches finish."""
    argv = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        f"--virtual-time-budget={BUDGET_MS}",
        "--window-size=1280,900",
        *action,
        url,
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def text_of(dom: str) -> str:
    """The visible text of a DOM dump, tags removed and whitespace collapsed."""
    without_code = re.sub(r"<(script|style)>.*?</\1>", "", dom, flags=re.DOTALL)
    return " ".join(re.sub(r"<[^>]+>", " ", without_code).replace("&gt;", ">").replace("&amp;", "&").split())


def test_task_page_renders_the_finished_debate(chromium: str, site: tuple[ApiServer, int], tmp_path: Path) -> None:
    """The task page shows every turn, the tool calls with decisions and rules, the votes, verdict, diff and chart."""
    server, task_id = site
    dom = browse(chromium, f"{server.url}/tasks/{task_id}#token={TOKEN}", tmp_path, "--dump-dom").stdout
    text = text_of(dom)
    assert f"Task {task_id} (task · fix)" in text
    for said in ("Changed the minus to a plus in Total.", "The change is right.", "Tests pass."):
        assert said in text
    assert dom.count('class="turn ') == 3
    assert dom.count('data-decision="allowed"') == 2
    assert dom.count('data-decision="refused"') == 1
    assert "rule command:not-allowlisted" in text
    assert "vote: accept confidence 0.95" in text
    assert "Verdict: accepted" in text
    assert "judge=accept(0.95)" in text
    assert "+\treturn a + b" in dom
    assert 'class="add"' in dom and 'class="del"' in dom
    assert "<svg" in dom and 'aria-label="tokens per turn"' in dom
    assert 'aria-label="phase timeline"' in dom and dom.count('class="phase"') == 3
    assert "test run (main)" in text
    assert "2250 in / 220 out · $1.0000" in text
    assert TOKEN not in dom  # read into sessionStorage and removed from the address


def test_task_list_page_lists_the_tasks(chromium: str, site: tuple[ApiServer, int], tmp_path: Path) -> None:
    """The list page shows each task with its status, kind, branch and test result, and the agents."""
    server, task_id = site
    dom = browse(chromium, f"{server.url}/#token={TOKEN}", tmp_path, "--dump-dom").stdout
    text = text_of(dom)
    assert dom.count('data-task="') == 2
    assert f"agentd/task-{task_id}" in text
    assert "fixed" in text and "queued" in text and "pass" in text
    assert "Speed up the checkout query" in text
    assert "proposer · proposer · scripted-1" in text


def test_without_a_token_the_page_asks_for_one(chromium: str, site: tuple[ApiServer, int], tmp_path: Path) -> None:
    """Opened without a token the page shows the sign-in form and no task data."""
    server, _ = site
    text = text_of(browse(chromium, f"{server.url}/", tmp_path, "--dump-dom").stdout)
    assert "Sign in" in text
    assert "Speed up" not in text


def test_screenshot_is_a_real_picture(chromium: str, site: tuple[ApiServer, int], tmp_path: Path) -> None:
    """A 1280x900 screenshot of the task page is a PNG of that size with real content (kept in the test's tmp dir)."""
    server, task_id = site
    picture = tmp_path / "task.png"
    browse(chromium, f"{server.url}/tasks/{task_id}#token={TOKEN}", tmp_path, f"--screenshot={picture}")
    data = picture.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 900)
    assert len(data) > 40_000  # a blank or near-blank page compresses to a few kilobytes


class LateTurnStore(SQLiteStore):
    """A real store on which the debate moves on the moment a live stream first looks (no race with the browser)."""

    session = 0
    moved = False

    def task_activity(self, task_id: int, after_turn: int, after_call: int, limit: int = 500) -> Activity:
        """Write a turn and finish the task, as the daemon would, before the stream's first read."""
        if not self.moved:
            self.moved = True
            turn = {
                "seq": 0,
                "agent": "proposer",
                "role": "proposer",
                "model": "m",
                "content": "written while you watched",
            }
            self.add_turn(self.session, turn)
            self.update_task(task_id, status="no_fix", finished_at=time.time())
        return super().task_activity(task_id, after_turn, after_call, limit)


def test_a_running_task_page_follows_the_live_stream(chromium: str, tmp_path: Path) -> None:
    """Opened on a running task, the page shows a turn written after it loaded and the final status, via the stream."""
    store = LateTurnStore(str(tmp_path / "agentd.db"))
    task_id = store.enqueue(task_event("live", "Live one"), "Live one", None)[0]
    store.claim_job("worker", 60)
    store.session = store.start_session(task_id, "debate", "round_robin")
    try:
        with api_server(api_config(tmp_path), store, Redactor(), env={"AGENTD_API_TOKEN": TOKEN}) as running:
            dom = browse(chromium, f"{running.url}/tasks/{task_id}#token={TOKEN}", tmp_path, "--dump-dom").stdout
    finally:
        store.close()
    assert store.moved  # the page opened the stream
    text = text_of(dom)
    assert "written while you watched" in text
    assert f"Task {task_id} (task · fix) no_fix" in text  # re-read after the stream's news
    assert "null" not in text
