"""The command line as users run it: real processes, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from agentd.store import open_store
from tests.conftest import git
from tests.test_e2e import leftovers


def agentd(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the agentd command line in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "agentd", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
    )


def scripted_config(tmp_path: Path, repo: Path, script: str = "demo", extra: str = "") -> Path:
    """A config on the scripted model watching `repo`."""
    path = tmp_path / "agentd.toml"
    path.write_text(
        f'[daemon]\nstate_dir = "{tmp_path / "state"}"\n[repository]\npath = "{repo}"\n'
        f'[models.default]\nprovider = "scripted"\nmodel = "m"\nscript = "{script}"\n{extra}'
    )
    return path


def test_init_writes_a_config_that_loads(tmp_path: Path, sample_repo: Path) -> None:
    """`agentd init REPO` writes a commented config naming the repository, refused twice without --force."""
    out = tmp_path / "agentd.toml"
    first = agentd("init", str(sample_repo), "-o", str(out))
    assert first.returncode == 0, first.stderr
    text = out.read_text()
    assert f'path = "{sample_repo}"' in text
    assert "api_key_env" in text and "# " in text
    again = agentd("init", str(sample_repo), "-o", str(out))
    assert again.returncode == 2
    assert "exists" in again.stderr


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("[daemon\n", "not valid TOML"),
        ('[repository]\npath = "/x"\n[models.default]\nprovider = "nope"\nmodel = "m"\n', "models.default.provider"),
        (
            '[repository]\npath = "/x"\n[models.default]\nprovider = "openai"\nmodel = "m"\n[roles]\ncritic = "zz"\n',
            "roles.critic = 'zz'",
        ),
    ],
)
def test_bad_config_is_one_line_and_nonzero(tmp_path: Path, body: str, fragment: str) -> None:
    """A malformed config gives one line on stderr naming the problem, exit 2, and touches nothing."""
    path = tmp_path / "agentd.toml"
    path.write_text(body)
    before = sorted(p.name for p in tmp_path.iterdir())
    done = agentd("status", "--config", str(path))
    assert done.returncode == 2
    assert fragment in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_agentd_config_variable_is_honoured(tmp_path: Path, sample_repo: Path) -> None:
    """With no --config, $AGENTD_CONFIG names the file."""
    path = scripted_config(tmp_path, sample_repo)
    done = agentd("status", env={"AGENTD_CONFIG": str(path)}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "daemon: not running" in done.stdout


def test_repository_that_is_not_git_is_refused(tmp_path: Path) -> None:
    """Pointing agentd at a folder that is not a git repository is a one-line error."""
    (tmp_path / "plain").mkdir()
    path = scripted_config(tmp_path, tmp_path / "plain")
    done = agentd("run", "--config", str(path), timeout=60)
    assert done.returncode == 2
    assert "not a git repository" in done.stderr


def test_missing_api_key_variable_is_refused(tmp_path: Path, sample_repo: Path) -> None:
    """A model whose key variable is unset stops `agentd run` with the variable's name."""
    path = tmp_path / "agentd.toml"
    path.write_text(
        f'[daemon]\nstate_dir = "{tmp_path / "s"}"\n[repository]\npath = "{sample_repo}"\n'
        '[models.default]\nprovider = "openai"\nmodel = "gpt-4.1"\napi_key_env = "AGENTD_NO_SUCH_KEY"\n'
    )
    done = agentd("run", "--config", str(path), env={"AGENTD_NO_SUCH_KEY": ""}, timeout=60)
    assert done.returncode == 2
    assert "AGENTD_NO_SUCH_KEY is not set" in done.stderr


def test_policy_check_prints_decision_and_rule(tmp_path: Path) -> None:
    """`agentd policy check` prints allow/deny and the rule, exit 0 for allow and 1 for deny."""
    allowed = agentd("policy", "check", "--config", str(tmp_path / "none.toml"), "--command", "go test ./...")
    assert (allowed.returncode, allowed.stdout.strip()) == (0, "allow (rule: go-test)")
    denied = agentd("policy", "check", "--config", str(tmp_path / "none.toml"), "--command", "go test; rm -rf /")
    assert denied.returncode == 1
    assert "shell-syntax" in denied.stdout
    path = agentd("policy", "check", "--config", str(tmp_path / "none.toml"), "--path", ".git/config")
    assert path.returncode == 1
    assert "git-metadata" in path.stdout
    sql = agentd("policy", "check", "--config", str(tmp_path / "none.toml"), "--sql", "DELETE FROM t")
    assert sql.returncode == 1
    assert "sql:" in sql.stdout


@pytest.mark.docker
def test_task_wait_runs_inline_and_show_prints_the_debate(
    tmp_path: Path, sample_repo: Path, sandbox_image: str
) -> None:
    """`agentd task --wait` with no daemon runs the job here; `show` lists turns, tool calls and verdict."""
    (sample_repo / "cart" / "cart.go").write_text(
        (sample_repo / "cart" / "cart.go")
        .read_text()
        .replace(
            "\t\ttotal += it.Price * it.Qty\n", "\t\t// quantities are applied at checkout\n\t\ttotal += it.Price\n"
        )
    )
    git(sample_repo, "commit", "-qam", "cart: apply quantities at checkout")
    path = scripted_config(tmp_path, sample_repo)
    done = agentd("task", "TestTotal fails: fix cart.Total", "--config", str(path), "--wait", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no daemon is running" in done.stdout
    assert "task 1 fixed on agentd/task-1" in done.stdout
    assert git(sample_repo, "rev-parse", "agentd/task-1")
    shown = agentd("show", "1", "--config", str(path))
    assert shown.returncode == 0, shown.stderr
    for fragment in (
        "proposer",
        "critic",
        "judge",
        "execute_command",
        "[go-test]",
        "decision: winner proposer-1, agreed True",
        "ballot critic -> proposer-1",
        "commit: ",
        "agentd/task-1",
    ):
        assert fragment in shown.stdout
    status = agentd("status", "--config", str(path))
    assert "fixed" in status.stdout


@pytest.mark.docker
def test_run_stops_cleanly_on_sigterm_mid_job(
    tmp_path: Path, sample_repo: Path, sandbox_image: str, docker_client: docker.DockerClient
) -> None:
    """SIGTERM during a job: exit 0 within 20 s, the job back in the queue, no container left behind."""
    script = tmp_path / "slow.json"
    script.write_text('{"*": [{"delay_s": 60, "text": "thinking"}]}')
    path = scripted_config(tmp_path, sample_repo, script=str(script))
    store = open_store(f"sqlite:///{tmp_path / 'state' / 'agentd.db'}")
    process = subprocess.Popen(
        [sys.executable, "-m", "agentd", "run", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while store.branch_head(str(sample_repo), "main") is None and time.monotonic() < deadline:
            time.sleep(0.1)
        (sample_repo / "cart" / "cart.go").write_text("package cart\n\nfunc Broken() {\n")
        git(sample_repo, "commit", "-qam", "break the build")
        while time.monotonic() < deadline and not any(t.status == "running" for t in store.list_tasks()):
            time.sleep(0.1)
        time.sleep(3)  # the baseline test run and the first (slow) model call are under way
        process.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        output, _ = process.communicate(timeout=25)
        took = time.monotonic() - stopped
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert took < 20, f"stopped after {took:.1f}s"
    (task,) = store.list_tasks()
    assert task.status == "queued"
    assert store.counts() == {"queued": 1}
    assert leftovers(docker_client, tmp_path / "state") == []
    assert list((tmp_path / "state" / "worktrees").iterdir()) == []


@pytest.mark.docker
def test_missing_image_is_refused_at_start(tmp_path: Path, sample_repo: Path, sandbox_image: str) -> None:
    """A sandbox image that does not exist stops `agentd run` at once, saying to build it."""
    path = scripted_config(tmp_path, sample_repo, extra='[sandbox]\nimage = "agentd-no-such-image:never"\n')
    done = agentd("run", "--config", str(path), timeout=60)
    assert done.returncode == 2
    assert "agentd sandbox build" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_no_docker_engine_is_refused_at_start(tmp_path: Path, sample_repo: Path) -> None:
    """With no Docker engine answering, `agentd run` exits with one line saying how to start one."""
    path = scripted_config(tmp_path, sample_repo)
    done = agentd("run", "--config", str(path), env={"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}, timeout=60)
    assert done.returncode == 2
    assert "Docker" in done.stderr or "docker" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_task_records_the_remote_it_works_on_in_url_mode(tmp_path: Path, sample_repo: Path) -> None:
    """`agentd task` with `repository.url` records that URL as the task's repository, not "None"."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(sample_repo), str(remote))
    path = tmp_path / "agentd.toml"
    path.write_text(
        f'[daemon]\nstate_dir = "{tmp_path / "state"}"\n[repository]\nurl = "{remote}"\n'
        '[models.default]\nprovider = "scripted"\nmodel = "m"\nscript = "demo"\n'
    )
    done = agentd("task", "make Total reject negative quantities", "--config", str(path))
    assert done.returncode == 0, done.stderr
    store = open_store(f"sqlite:///{tmp_path / 'state' / 'agentd.db'}")
    try:
        (task,) = store.list_tasks()
    finally:
        store.close()
    assert task.event.repo == str(remote)


def test_show_prints_a_tasks_findings_as_sarif_and_its_review_in_json(tmp_path: Path, sample_repo: Path) -> None:
    """`agentd show N --sarif` prints the review's findings as a valid SARIF 2.1.0 log; `--json` includes the
    review record; both flags at once are a usage error."""
    from agentd.forge.base import Finding  # noqa: PLC0415
    from agentd.job.review import ReviewState, save  # noqa: PLC0415
    from agentd.kernel.events import PullRequestUpdated  # noqa: PLC0415
    from tests.job.test_sarif import validate  # noqa: PLC0415

    path = scripted_config(tmp_path, sample_repo)
    (tmp_path / "state").mkdir()
    store = open_store(f"sqlite:///{tmp_path / 'state' / 'agentd.db'}")
    event = PullRequestUpdated(repo=str(sample_repo), number=7, head_sha="a" * 40, base_branch="main")
    task_id, _ = store.enqueue(event, "PR #7", "a" * 40)
    state = ReviewState("a" * 40, pr=7)
    state.set_findings([Finding("cart/cart.go", 15, "Total drops the quantity", "Multiply by Qty.", "error")])
    save(store, task_id, state)
    store.close()
    shown = agentd("show", str(task_id), "--sarif", "--config", str(path))
    assert shown.returncode == 0, shown.stderr
    log = json.loads(shown.stdout)
    validate(log)
    (result,) = log["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 15
    as_json = json.loads(agentd("show", str(task_id), "--json", "--config", str(path)).stdout)
    assert as_json["review"]["findings"][0]["title"] == "Total drops the quantity"
    both = agentd("show", str(task_id), "--json", "--sarif", "--config", str(path))
    assert both.returncode == 2 and "choose one" in both.stderr
