"""Fixtures for the forge tests: the GitHub stand-in (every request checked against GitHub's description)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentd.forge.base import Finding, Forge
from agentd.forge.config import ForgeConfig
from agentd.forge.connect import open_forge
from agentd.forge.github import GitHubForge
from agentd.job.commands import pull_request_view
from agentd.job.trust import trust_of
from agentd.kernel.events import PullRequestUpdated
from agentd.repo.config import RepositoryConfig
from tests.support.github_api import GitHubStandIn, Pull

TOKEN = "ghp_test0123456789abcdefTOKEN"
REPO = "acme/shop"
HEAD = "a" * 40


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    """The stand-in, with PR #7 (same repository, by alice) and PR #8 (from a fork, by mallory).

    It fails the test at teardown if any request broke GitHub's description or its own answers did.
    """
    stand_in = GitHubStandIn(tokens={TOKEN})
    stand_in.state.pulls[7] = Pull(7, HEAD, "fix-cart", "main", "alice", REPO)
    stand_in.state.pulls[8] = Pull(8, "b" * 40, "patch-1", "main", "mallory", "mallory/shop")
    stand_in.state.permissions.update(alice="write", bob="maintain", carol="admin", dave="read", erin="triage")
    yield stand_in
    stand_in.close()
    assert stand_in.violations == []


def connect(stand_in: GitHubStandIn, **settings: object) -> GitHubForge:
    """A forge client built from `[forge]` settings like a user's, aimed at the stand-in."""
    fields: dict[str, object] = {"kind": "github", "api_url": stand_in.url, "repository": REPO, "checks": "check_run"}
    fields.update(settings)
    forge = open_forge(ForgeConfig.model_validate(fields), {"GITHUB_TOKEN": TOKEN})
    assert isinstance(forge, GitHubForge)
    return forge


@pytest.fixture
def forge(github: GitHubStandIn) -> GitHubForge:
    """A token-authenticated client that uses check runs."""
    return connect(github)


CART_PATCH = "@@ -1,3 +1,4 @@\n package cart\n+func Total(items []int) int {\n+\treturn 0\n }\n"
CART_FIX = "func Total(items []int) (sum int) {\n\tfor _, i := range items { sum += i }"


def cart_finding() -> Finding:
    """A finding on lines 2-3 of CART_PATCH's new side, with a fix the gate passed."""
    return Finding(
        "cart.go",
        2,
        "Total ignores items",
        "Always 0.",
        "error",
        end_line=3,
        code="func Total",
        suggestion=CART_FIX,
        suggestion_passed_gate=True,
    )


def job_trusts(forge: Forge, number: int) -> bool:
    """Whether a job would trust PR `number`: its view from the forge, judged by trust_of with the forge's
    write-access check (as agentd.job.job.Job decides)."""
    event = PullRequestUpdated(repo="/srv/shop", number=number, head_sha=HEAD, base_branch="main")
    view, _ = pull_request_view(forge, event)
    assert view is not None
    return trust_of(view, RepositoryConfig(url="/srv/shop.git"), forge.has_write_access).trusted
