"""Incremental review against the GitHub stand-in: a finding is posted once, whatever pushes follow."""

from __future__ import annotations

from collections.abc import Iterable

from agentd.forge.base import Finding
from agentd.forge.diff import parse_patch
from agentd.forge.github import GitHubForge
from agentd.forge.review import publish_review
from tests.forge.conftest import CART_PATCH, HEAD, cart_finding
from tests.support.github_api import GitHubStandIn

# the second head: two lines added above the function, so the finding's lines move down by two
MOVED_PATCH = '@@ -1,3 +1,6 @@\n package cart\n+\n+import "fmt"\n+func Total(items []int) int {\n+\treturn 0\n }\n'


class Memory:
    """FindingMemory as the store will keep it, in a dict (the store implements the same two methods)."""

    def __init__(self) -> None:
        self.posted: dict[tuple[str, int], set[str]] = {}

    def posted_findings(self, repo: str, pr: int) -> set[str]:
        """Fingerprints posted on the PR."""
        return set(self.posted.get((repo, pr), set()))

    def remember_findings(self, repo: str, pr: int, fingerprints: Iterable[str]) -> None:
        """Add fingerprints."""
        self.posted.setdefault((repo, pr), set()).update(fingerprints)


def test_a_finding_is_posted_once_across_pushes_and_deletions(github: GitHubStandIn, forge: GitHubForge) -> None:
    """Head 1 posts the finding; head 2 (lines moved) and head 3 (comment deleted, i.e. dismissed) post nothing."""
    memory = Memory()
    first = publish_review(
        forge, memory, "acme/shop", 7, HEAD, [cart_finding()], {"cart.go": parse_patch("cart.go", CART_PATCH)}
    )
    assert len(first.posted) == 1 and first.review_id is not None
    assert len(github.state.review_comments) == 1

    moved = Finding(**{**cart_finding().__dict__, "line": 4, "end_line": 5})
    second = publish_review(
        forge, memory, "acme/shop", 7, "c" * 40, [moved], {"cart.go": parse_patch("cart.go", MOVED_PATCH)}
    )
    assert second.posted == [] and second.already_posted == [moved]

    github.state.review_comments.clear()  # the author deleted the comment: dismissed
    third = publish_review(
        forge, memory, "acme/shop", 7, "d" * 40, [moved], {"cart.go": parse_patch("cart.go", MOVED_PATCH)}
    )
    assert third.posted == [] and github.calls().count("pulls/create-review") == 1


def test_without_memory_the_forge_still_knows_what_is_posted(github: GitHubStandIn, forge: GitHubForge) -> None:
    """A lost store does not repost: fingerprints are read back from the comments on the PR."""
    diffs = {"cart.go": parse_patch("cart.go", CART_PATCH)}
    publish_review(forge, None, "acme/shop", 7, HEAD, [cart_finding()], diffs)
    again = publish_review(forge, None, "acme/shop", 7, HEAD, [cart_finding()], diffs)
    assert again.posted == [] and len(github.state.review_comments) == 1


def test_findings_off_the_diff_and_duplicates_are_not_posted_inline(github: GitHubStandIn, forge: GitHubForge) -> None:
    """A finding on an unchanged file goes to the summary; the same finding twice is posted once."""
    elsewhere = Finding("util.go", 10, "Slow loop", "O(n²).", code="for")
    outcome = publish_review(
        forge,
        Memory(),
        "acme/shop",
        7,
        HEAD,
        [cart_finding(), cart_finding(), elsewhere],
        {"cart.go": parse_patch("cart.go", CART_PATCH)},
    )
    assert len(outcome.posted) == 1 and outcome.off_diff == [elsewhere] and len(outcome.already_posted) == 1
