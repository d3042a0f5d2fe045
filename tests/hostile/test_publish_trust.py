"""An untrusted pull request's tree never reaches the base repository, whatever the team fixes (real git, Docker)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import agentd.models
from agentd.demo import BROKEN_CART_GO
from agentd.kernel.redact import MASK
from agentd.store import open_store
from tests.conftest import git
from tests.test_pull_requests import forge, push_pr, run_daemon, tasks, watching, write_config

WORKFLOW = (
    "on: push\njobs:\n  leak:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ secrets.DEPLOY_KEY }}\n"
)


def test_a_forks_pr_with_a_workflow_is_fixed_but_nothing_is_pushed(
    sample_repo: Path, tmp_path: Path, sandbox_image: str
) -> None:
    """A fork's PR adding an `on: push` workflow and a failing test: fixed in agentd's clone, no branch on the remote.

    The attack: were agentd/pr-7 pushed, the PR author's workflow would run with the base repository's
    secrets. The fix is kept in agentd's own clone; the summary says why and carries the patch.
    """
    remote, dev = forge(sample_repo, tmp_path)
    config_path = write_config(tmp_path, remote, trusted=False)
    pushed: list[str] = []

    def done() -> bool:
        if not pushed and watching(config_path):
            git(dev, "checkout", "-q", "-b", "feature")
            files = {".github/workflows/x.yml": WORKFLOW, "cart/cart.go": BROKEN_CART_GO}
            pushed.append(push_pr(dev, 7, files, "cart: apply quantities at checkout"))
        return bool(pushed) and any(t.done for t in tasks(config_path))

    run_daemon(config_path, done)
    (task,) = tasks(config_path)
    assert task.status == "fixed", task.summary
    heads = git(remote, "for-each-ref", "--format=%(refname)", "refs/heads").split()
    assert heads == ["refs/heads/main"]  # nothing of agentd's, nothing of the PR's, on the base repository
    clone = tmp_path / "state" / "repo.git"
    assert git(clone, "rev-parse", "refs/heads/agentd/pr-7") == task.commit_sha
    assert git(clone, "rev-parse", "refs/heads/agentd/pr-7^") == pushed[0]
    assert "Not pushed: PR #7 by an unknown author is untrusted" in task.summary
    assert "```diff" in task.summary
    assert "+\t\ttotal += it.Price * it.Qty" in task.summary


def scripted(tmp_path: Path, edit: dict[str, object]) -> Path:
    """The demo script with some roles' steps replaced, written where a config can name it."""
    script = json.loads((Path(agentd.models.__file__).parent / "scripts" / "demo.json").read_text())
    script.update(edit)
    path = tmp_path / "script.json"
    path.write_text(json.dumps(script))
    return path


def test_a_secret_in_the_agreed_summary_never_reaches_the_commit_message(
    sample_repo: Path, tmp_path: Path, sandbox_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proposer that writes a secret's value into its summary: the published commit carries the mask instead."""
    secret = "sk-live-canary-7c1d2e"
    monkeypatch.setenv("AGENTD_TEST_LEAK_TOKEN", secret)
    proposer = json.loads((Path(agentd.models.__file__).parent / "scripts" / "demo.json").read_text())["proposer"]
    proposer[-1]["tool_calls"][0]["arguments"]["summary"] = f"Multiply by the quantity (token {secret})"
    script = scripted(tmp_path, {"proposer": proposer})
    remote, dev = forge(sample_repo, tmp_path)
    config_path = write_config(tmp_path, remote)
    config_path.write_text(config_path.read_text().replace('script = "demo"', f'script = "{script}"'))
    pushed: list[str] = []

    def done() -> bool:
        if not pushed and watching(config_path):
            git(dev, "checkout", "-q", "-b", "feature")
            pushed.append(push_pr(dev, 7, {"cart/cart.go": BROKEN_CART_GO}, "cart: apply quantities at checkout"))
        return bool(pushed) and any(t.done for t in tasks(config_path))

    run_daemon(config_path, done)
    (task,) = tasks(config_path)
    assert task.status == "fixed", task.summary
    message = git(remote, "log", "-1", "--format=%B", "agentd/pr-7")
    assert secret not in message
    assert MASK in message


def test_an_untrusted_prs_agents_get_no_database(
    sample_repo: Path, tmp_path: Path, sandbox_image: str, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a target database configured, the reviewer of a fork's PR is refused query_database: rows it read could
    reach the PR's author through a comment."""
    monkeypatch.setenv("AGENTD_TEST_TARGET_DSN", postgres_dsn)
    review = [
        {"tool_calls": [{"name": "query_database", "arguments": {"sql": "SELECT current_user"}}]},
        {"tool_calls": [{"name": "submit_review", "arguments": {"verdict": "approve", "summary": "ok"}}]},
    ]
    script = scripted(tmp_path, {"reviewer": review})
    remote, dev = forge(sample_repo, tmp_path)
    config_path = write_config(tmp_path, remote, trusted=False)
    config_path.write_text(
        config_path.read_text().replace('script = "demo"', f'script = "{script}"')
        + '[target_database]\ndsn_env = "AGENTD_TEST_TARGET_DSN"\n'
    )
    pushed: list[str] = []

    def done() -> bool:
        if not pushed and watching(config_path):
            git(dev, "checkout", "-q", "-b", "feature")
            pushed.append(push_pr(dev, 7, {"notes.md": "notes\n"}, "docs: notes"))
        return bool(pushed) and any(t.done for t in tasks(config_path))

    run_daemon(config_path, done)
    (task,) = tasks(config_path)
    store = open_store(f"sqlite:///{tmp_path / 'state' / 'agentd.db'}")
    calls = [c for s in store.task_record(task.id).sessions for c in s.tool_calls if c.tool == "query_database"]
    store.close()
    assert [c.decision for c in calls] == ["refused"]
    assert "current_user" not in json.dumps([c.output for c in calls])
