"""The host process runner: argv only, a deadline that kills the whole group, capped output, nothing left behind."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from agentd.kernel.process import run


def alive(pid: int) -> bool:
    """Whether a process with this pid exists (and is not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_gone(pid: int, seconds: float = 5.0) -> bool:
    """True once the process is gone (or a zombie), within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_output_and_exit_code_come_back_as_data() -> None:
    """stdout, stderr and the exit code of a command are returned, not raised."""
    code = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    done = run([sys.executable, "-c", code], timeout_s=30)
    assert (done.exit_code, done.stdout, done.stderr) == (3, "out\n", "err\n")
    assert not done.ok
    assert done.reason().startswith("exit code 3: err")


def test_stdin_is_fed_to_the_process() -> None:
    """Text given as stdin reaches the process."""
    done = run(["cat"], timeout_s=30, stdin="a patch\n")
    assert done.ok
    assert done.stdout == "a patch\n"


def test_the_deadline_kills_the_whole_group(tmp_path: Path) -> None:
    """At the deadline the leader and the children it started are all killed, and the call returns."""
    pids = tmp_path / "pids"
    script = f"sleep 60 & echo $! > {pids}; sleep 60"
    started = time.monotonic()
    done = run(["sh", "-c", script], timeout_s=1)
    assert time.monotonic() - started < 10
    assert done.timed_out
    assert not done.ok
    assert "deadline" in done.reason()
    assert wait_gone(int(pids.read_text()))


def test_a_child_left_running_when_the_leader_exits_is_killed(tmp_path: Path) -> None:
    """A background child of a command that already exited does not outlive the call."""
    pids = tmp_path / "pids"
    done = run(["sh", "-c", f"sleep 60 > /dev/null 2>&1 & echo $! > {pids}"], timeout_s=30)
    assert done.ok
    assert wait_gone(int(pids.read_text()))


def test_output_beyond_the_cap_is_dropped_and_marked() -> None:
    """A command that prints more than the cap keeps only the cap, says so, and is not ok."""
    done = run([sys.executable, "-c", "print('x' * 5_000_000)"], timeout_s=60, max_output=1000)
    assert len(done.stdout) == 1000
    assert done.truncated
    assert not done.ok


def test_a_missing_program_is_exit_127_with_its_name() -> None:
    """A program that is not installed gives exit code 127 and names itself, like a shell would."""
    done = run(["agentd-no-such-program"], timeout_s=5)
    assert done.exit_code == 127
    assert "agentd-no-such-program" in done.stderr


def test_the_environment_is_exactly_what_is_given() -> None:
    """With env given, the process sees that environment and nothing of agentd's own."""
    os.environ["AGENTD_TEST_SECRET"] = "s3cret"
    try:
        done = run(["env"], timeout_s=10, env={"PATH": "/usr/bin:/bin", "ONLY": "this"})
    finally:
        del os.environ["AGENTD_TEST_SECRET"]
    assert "ONLY=this" in done.stdout
    assert "s3cret" not in done.stdout
