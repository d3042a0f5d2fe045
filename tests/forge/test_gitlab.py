"""GitLab through python-gitlab, end to end over HTTP against a stand-in checking python-gitlab's endpoints."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentd.forge.base import Annotation, CheckReport, Finding, ForgeError
from agentd.forge.config import ForgeConfig
from agentd.forge.connect import open_forge
from agentd.forge.diff import parse_patch
from agentd.forge.findings import fingerprint, to_inline_comment
from agentd.forge.gitlab import GitLabForge
from agentd.forge.summary import MARKER
from tests.forge.conftest import CART_PATCH, cart_finding, job_trusts
from tests.support.gitlab_api import GitLabStandIn, MergeRequest, gitlab_endpoints

TOKEN = "glpat-test0123456789TOKEN"
HEAD = "a" * 40


@pytest.fixture
def gitlab_api() -> Iterator[GitLabStandIn]:
    """The stand-in with MR !3 from the project itself by alice and MR !4 from a fork by mallory."""
    stand_in = GitLabStandIn(TOKEN)
    stand_in.state.merge_requests[3] = MergeRequest(3, HEAD, "fix-cart", "main", "alice")
    stand_in.state.merge_requests[4] = MergeRequest(4, "b" * 40, "patch-1", "main", "mallory", source_project_id=77)
    stand_in.state.users.update(alice=1, mallory=2, dave=3)
    stand_in.state.members.update({1: 30, 3: 20})  # alice: Developer, dave: Reporter
    yield stand_in
    stand_in.close()
    assert stand_in.violations == []


@pytest.fixture
def forge(gitlab_api: GitLabStandIn) -> GitLabForge:
    """A client built from `[forge]` settings aimed at the stand-in."""
    config = ForgeConfig(kind="gitlab", api_url=gitlab_api.url, repository="acme/shop", token_env="GITLAB_TOKEN")
    client = open_forge(config, {"GITLAB_TOKEN": TOKEN})
    assert isinstance(client, GitLabForge)
    return client


def test_the_endpoint_table_comes_from_python_gitlab_and_refuses_what_it_does_not_declare(
    gitlab_api: GitLabStandIn,
) -> None:
    """The table holds the managers agentd uses; an undeclared attribute or path is a violation."""
    templates = {(e.method, e.template) for e in gitlab_endpoints()}
    assert ("POST", "/projects/{project_id}/merge_requests/{mr_iid}/discussions") in templates
    assert ("PUT", "/projects/{project_id}/merge_requests/{mr_iid}/notes/{id}") in templates
    status, _ = gitlab_api.handle("POST", "/api/v4/projects/42/merge_requests", {}, b'{"title": "x"}', TOKEN)
    assert status == 400
    status, _ = gitlab_api.handle("POST", "/api/v4/projects/42/check-runs", {}, b"{}", TOKEN)
    assert status == 404
    assert len(gitlab_api.violations) == 2
    assert "required attribute 'source_branch' is missing" in gitlab_api.violations[0]
    gitlab_api.violations.clear()


def test_check_is_a_commit_status_and_a_branch_commit_gets_the_report(
    gitlab_api: GitLabStandIn, forge: GitLabForge
) -> None:
    """pending → running → failed on the head, and a commit without MR gets the annotations as a comment."""
    check = forge.start_check(HEAD)
    forge.check_in_progress(check)
    notes = [Annotation("cart.go", 2, 2, "failure", "Total ignores items", "always 0")]
    forge.complete_check(check, CheckReport("failure", "1 finding", "reviewed cart.go", annotations=notes))
    assert [s["state"] for s in gitlab_api.state.statuses] == ["pending", "running", "failed"]
    assert {s["name"] for s in gitlab_api.state.statuses} == {"agentd"}
    (comment,) = gitlab_api.state.commit_comments
    assert "`cart.go:2` **Total ignores items**" in comment["note"]


def test_repeating_the_current_status_is_not_an_error(gitlab_api: GitLabStandIn, forge: GitLabForge) -> None:
    """A second pending on the same head (a restart) is refused by GitLab and taken as already done."""
    forge.start_check(HEAD)
    forge.start_check(HEAD)
    assert [s["state"] for s in gitlab_api.state.statuses] == ["pending"]


def test_review_is_diff_discussions_with_gitlab_suggestions(gitlab_api: GitLabStandIn, forge: GitLabForge) -> None:
    """A finding becomes a discussion at its new line with the MR's diff refs and a suggestion:-1+0 block."""
    finding = cart_finding()
    context = Finding("cart.go", 4, "Closing brace", "Fine.", "info", code="}")
    diff = parse_patch("cart.go", CART_PATCH)
    comments = [c for c in (to_inline_comment(finding, diff), to_inline_comment(context, diff)) if c is not None]
    assert forge.post_review(3, HEAD, comments) is not None
    first, second = (n for n in gitlab_api.state.notes.values() if n["discussion"])
    assert first["position"]["new_line"] == 3 and "old_line" not in first["position"]
    assert first["position"]["head_sha"] == HEAD and first["position"]["position_type"] == "text"
    assert "```suggestion:-1+0\nfunc Total(items []int) (sum int) {" in first["body"]
    assert (second["position"]["new_line"], second["position"]["old_line"]) == (4, 2)
    assert forge.posted_fingerprints(3) == {fingerprint(finding), fingerprint(context)}


def test_summary_note_is_created_once_then_edited(gitlab_api: GitLabStandIn, forge: GitLabForge) -> None:
    """The first head creates the marked note; a lost id finds it by marker; there is never a second one."""
    first = forge.upsert_review_comment(3, "first report", None)
    assert forge.upsert_review_comment(3, "second report", "999999") == first
    (note,) = gitlab_api.state.notes.values()
    assert note["body"] == f"{MARKER}\nsecond report"


def test_fix_merge_request_is_a_draft_and_updated_later(gitlab_api: GitLabStandIn, forge: GitLabForge) -> None:
    """agentd/pr-3 → fix-cart opens one "Draft:" MR; the next fix updates it."""
    opened = forge.upsert_fix_pull_request("agentd/pr-3", "fix-cart", "agentd: fix !3", "first")
    assert opened.created and gitlab_api.state.merge_requests[opened.number].title == "Draft: agentd: fix !3"
    again = forge.upsert_fix_pull_request("agentd/pr-3", "fix-cart", "agentd: fix !3", "second")
    assert (again.number, again.created) == (opened.number, False)
    assert gitlab_api.state.merge_requests[opened.number].description == "second"


def test_write_access_and_trust(gitlab_api: GitLabStandIn, forge: GitLabForge) -> None:
    """Developer may command; Reporter, non-members and unknown users may not; a fork's MR needs a writer."""
    assert forge.has_write_access("alice")
    assert not forge.has_write_access("dave")
    assert not forge.has_write_access("mallory")
    assert not forge.has_write_access("nobody")
    assert job_trusts(forge, 3)
    fork = forge.pull_request(4)
    assert not fork.same_repository and not job_trusts(forge, 4)


def test_reply_goes_into_the_commands_discussion(gitlab_api: GitLabStandIn, forge: GitLabForge) -> None:
    """A reply naming a discussion is a note in that discussion; without one, a note on the MR."""
    forge.reply(3, "done", to_comment="d77")
    forge.reply(3, "also done")
    assert [n["discussion"] for n in gitlab_api.state.notes.values()] == ["d77", None]


def test_bad_token_is_a_forge_error_without_the_token(gitlab_api: GitLabStandIn) -> None:
    """A 401 becomes ForgeError with status 401 and no token in its text or the client's repr."""
    forge = GitLabForge(gitlab_api.url, "acme/shop", "glpat-wrong-TOKEN")
    with pytest.raises(ForgeError) as caught:
        forge.pull_request(3)
    assert caught.value.status == 401
    assert "glpat-wrong-TOKEN" not in str(caught.value) and "glpat" not in repr(forge)
