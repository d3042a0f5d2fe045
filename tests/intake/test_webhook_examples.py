"""parse_delivery against GitHub's own example deliveries (npm @octokit/webhooks-examples), not JSON of ours.

None of the package's issue_comment examples is on a pull request or holds a command, so the command tests
build one from two real examples (a comment, and the issue of a PR from the `issues` examples) and prove
the result is still a delivery GitHub could send: it validates against the webhook schema in GitHub's
description (@octokit/openapi, x-webhooks/issue-comment-created).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from agentd.intake.webhook import CommentCommand, WebhookRejected, WebhookServer, parse_command, parse_delivery
from agentd.kernel.events import CommitPushed, PullRequestCommand, PullRequestUpdated
from agentd.store.sqlite import SQLiteStore
from tests.support.openapi import ARTEFACTS, github_description
from tests.support.webhooks import post_delivery

REPO = "/srv/hello-world"
EXAMPLES = ARTEFACTS / "webhooks-examples" / "api.github.com" / "index.json"
COMMENT_SCHEMA = "/x-webhooks/issue-comment-created/post/requestBody/content/application~1json/schema"


@cache
def _examples() -> dict[str, list[dict[str, Any]]]:
    if not EXAMPLES.exists():
        raise FileNotFoundError(f"{EXAMPLES} is missing: run `make setup` (npm ci in tests/artefacts)")
    return {event["name"]: event["examples"] for event in json.loads(EXAMPLES.read_text(encoding="utf-8"))}


def examples(event: str, **match: Any) -> list[dict[str, Any]]:
    """Deep copies of GitHub's examples of `event` whose top-level fields equal `match`."""
    chosen = [e for e in _examples()[event] if all(e.get(k) == v for k, v in match.items())]
    assert chosen, f"@octokit/webhooks-examples has no {event} example with {match}"
    return copy.deepcopy(chosen)


def comment_on_pull_request(body: str) -> dict[str, Any]:
    """GitHub's issue_comment `created` example, moved onto the PR-issue of its `issues` examples, saying `body`.

    The newest-format example is taken (its comment has `reactions`; the oldest predates today's schema).
    """
    delivery = next(e for e in examples("issue_comment", action="created") if "reactions" in e["comment"])
    pr_issue = next(e["issue"] for e in examples("issues") if "pull_request" in e.get("issue", {}))
    delivery["issue"] = pr_issue
    delivery["comment"]["body"] = body
    return delivery


def test_push_examples_become_commits_only_for_watched_branches() -> None:
    """The branch-creating push examples make a commit without parent on master; tag pushes make nothing."""
    for delivery in examples("push"):
        event = parse_delivery("push", delivery, REPO, ["master"], True)
        if delivery["ref"] == "refs/heads/master":
            assert event == CommitPushed(repo=REPO, branch="master", sha=delivery["after"], parent_sha=None)
        else:
            assert delivery["ref"].startswith("refs/tags/") and event is None
        assert parse_delivery("push", delivery, REPO, ["main"], True) is None


@pytest.mark.parametrize("action", ["opened", "synchronize", "reopened"])
def test_pull_request_examples_become_pull_request_updates(action: str) -> None:
    """Each opened, synchronize and reopened example names PR #2's head sha and base branch."""
    for delivery in examples("pull_request", action=action):
        pull = delivery["pull_request"]
        event = parse_delivery("pull_request", delivery, REPO, ["master"], True)
        assert event == PullRequestUpdated(
            repo=REPO,
            number=2,
            head_sha=pull["head"]["sha"],
            base_branch="master",
            author=pull["user"]["login"],
            head_repo=pull["head"]["repo"]["full_name"],
            base_repo=pull["base"]["repo"]["full_name"],
        )
        assert parse_delivery("pull_request", delivery, REPO, ["master"], False) is None


def test_other_pull_request_actions_are_ignored() -> None:
    """closed, labeled, edited and every other action in the examples start no job."""
    others = [e for e in _examples()["pull_request"] if e["action"] not in {"opened", "synchronize", "reopened"}]
    assert len(others) > 10
    assert all(parse_delivery("pull_request", e, REPO, ["master"], True) is None for e in others)


def test_issue_comment_examples_on_issues_are_ignored() -> None:
    """Every issue_comment example is on a plain issue without a command: none becomes anything."""
    for delivery in _examples()["issue_comment"]:
        assert parse_delivery("issue_comment", copy.deepcopy(delivery), REPO, ["master"], True) is None


def test_the_derived_comment_delivery_is_valid_under_githubs_webhook_schema() -> None:
    """The command deliveries below are ones GitHub could send: its issue-comment-created schema accepts them."""
    description = github_description()
    assert description.problems(COMMENT_SCHEMA, comment_on_pull_request("/agentd fix"), request=True) == []


@pytest.mark.parametrize("verb", ["review", "fix", "optimize", "explain"])
def test_a_command_comment_on_a_pull_request_becomes_a_comment_command(verb: str) -> None:
    """`/agentd VERB` on PR #2 names the PR, the verb, the author, GitHub's association hint and the comment."""
    delivery = comment_on_pull_request(f"Thanks!\n\n/agentd {verb} the cart total\n")
    event = parse_delivery("issue_comment", delivery, REPO, ["master"], True)
    assert event == CommentCommand(
        repo=REPO,
        pr=2,
        verb=verb,
        argument="the cart total",
        author="Codertocat",
        association="OWNER",
        comment_id=delivery["comment"]["id"],
    )
    assert event.known and event.key == f"command:{delivery['comment']['id']}"


def test_comments_that_are_not_commands_to_answer_are_ignored() -> None:
    """Edits, deletions, bots' comments, comments without a command and PR comments with commands off: nothing."""
    edited = comment_on_pull_request("/agentd fix")
    edited["action"] = "edited"
    bot = comment_on_pull_request("/agentd fix")
    bot["comment"]["user"]["type"] = "Bot"
    chatter = comment_on_pull_request("I will run /agentd fix later")
    for delivery in (edited, bot, chatter):
        assert parse_delivery("issue_comment", delivery, REPO, ["master"], True) is None
    assert parse_delivery("issue_comment", comment_on_pull_request("/agentd fix"), REPO, ["master"], False) is None


def test_unknown_verbs_still_reach_the_job_to_be_refused() -> None:
    """`/agentd deploy` is a command agentd does not have: it arrives unknown, so the job can answer why not."""
    event = parse_delivery("issue_comment", comment_on_pull_request("/agentd Deploy now"), REPO, ["master"], True)
    assert isinstance(event, CommentCommand)
    assert (event.verb, event.argument, event.known) == ("deploy", "now", False)


def test_parse_command_takes_the_first_command_line() -> None:
    """Only a line starting with /agentd counts; a bare /agentd asks for help; case and CRLF do not matter."""
    assert parse_command("/agentd review full") == ("review", "full")
    assert parse_command("> quoted\r\n/AGENTD Fix\r\n/agentd review") == ("fix", "")
    assert parse_command("/agentd") == ("help", "")
    assert parse_command("please /agentd fix") is None
    assert parse_command("/agentdfix") is None


def test_a_command_delivery_missing_the_comment_id_is_rejected() -> None:
    """A command whose comment lacks an id is malformed: 400, nothing queued."""
    delivery = comment_on_pull_request("/agentd fix")
    del delivery["comment"]["id"]
    with pytest.raises(WebhookRejected) as rejected:
        parse_delivery("issue_comment", delivery, REPO, ["master"], True)
    assert rejected.value.status == 400


@pytest.mark.parametrize("commands", [True, False])
def test_a_signed_command_delivery_is_queued_as_a_job_only_with_commands_on(tmp_path: Path, commands: bool) -> None:
    """With a forge (commands on) `/agentd fix` on a PR becomes one queued command job keyed by its comment, even
    when delivered twice under two ids; without one it is acknowledged and ignored."""
    store = SQLiteStore(str(tmp_path / "agentd.db"))
    delivery = comment_on_pull_request("/agentd fix the total")
    try:
        with WebhookServer("127.0.0.1:0", "/webhook", b"k", store, REPO, ["master"], True, commands=commands) as server:
            answers = [post_delivery(server.url, b"k", "issue_comment", d, delivery)[1] for d in ("d-1", "d-2")]
        tasks = store.list_tasks()
    finally:
        store.close()
    if not commands:
        assert answers == [{"status": "ignored"}, {"status": "ignored"}]
        assert tasks == []
        return
    assert [a["status"] for a in answers] == ["queued", "queued"]
    assert [a["new"] for a in answers] == [True, False]
    (task,) = tasks
    assert task.kind == "command"
    assert task.event == PullRequestCommand(
        repo=REPO,
        number=2,
        verb="fix",
        argument="the total",
        author="Codertocat",
        comment_id=delivery["comment"]["id"],
    )
    assert task.description == "/agentd fix on PR #2 by Codertocat"
