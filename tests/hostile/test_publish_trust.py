"""An untrusted pull request's tree never reaches the base repository, whatever the team fixes (real git, Docker)."""

from __future__ import annotations

from pathlib import Path

from agentd.demo import BROKEN_CART_GO
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
