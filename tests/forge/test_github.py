"""GitHub through githubkit, end to end over HTTP against the stand-in that checks GitHub's description."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from githubkit import GitHub, TokenAuthStrategy
from githubkit.exception import RequestFailed

from agentd.forge.base import Annotation, CheckReport, Finding, ForgeError
from agentd.forge.config import ForgeConfig
from agentd.forge.connect import open_forge
from agentd.forge.diff import parse_patch
from agentd.forge.findings import fingerprint, to_inline_comment
from agentd.forge.github import GitHubForge
from agentd.forge.summary import MARKER, comment_for
from tests.forge.conftest import CART_FIX, CART_PATCH, HEAD, REPO, TOKEN, cart_finding, connect, job_trusts
from tests.support.github_api import GitHubStandIn, Pull


def report(annotations: int) -> CheckReport:
    """A failing report with `annotations` annotations."""
    notes = [Annotation("cart.go", n, n, "warning", f"finding {n}", "why") for n in range(1, annotations + 1)]
    return CheckReport("failure", "2 findings", "## Reviewed\n\ncart.go", annotations=notes)


def test_the_stand_in_refuses_a_request_githubs_description_does_not_allow(github: GitHubStandIn) -> None:
    """A check run without head_sha and with an unknown status is refused with 422 and recorded as a violation."""
    client = GitHub(TokenAuthStrategy(TOKEN), base_url=github.url + "/", http_cache=False, auto_retry=False)
    with pytest.raises(RequestFailed) as refused:
        client.request("POST", f"/repos/{REPO}/check-runs", json={"name": "x", "status": "bogus"})
    assert refused.value.response.status_code == 422
    assert any("head_sha" in v and "bogus" in v for v in github.violations)
    github.violations.clear()


def test_check_run_goes_queued_running_completed_with_every_annotation_in_batches_of_50(
    github: GitHubStandIn, forge: GitHubForge
) -> None:
    """120 annotations reach the check run in three PATCHes of at most 50; status and conclusion are final."""
    check = forge.start_check(HEAD, pr=7)
    run = github.state.check_runs[int(check.id)]
    assert (check.kind, run["status"], run["name"], run["head_sha"]) == ("check_run", "queued", "agentd", HEAD)
    forge.check_in_progress(check)
    assert run["status"] == "in_progress"
    forge.complete_check(check, report(120))
    assert (run["status"], run["conclusion"], run["title"]) == ("completed", "failure", "2 findings")
    assert len(github.state.annotations[int(check.id)]) == 120
    patches = [s.body for s in github.seen if s.operation_id == "checks/update"]
    assert [len(p["output"]["annotations"]) for p in patches[1:]] == [50, 50, 20]


def test_an_unfinished_check_run_is_reused_and_a_finished_one_is_not(github: GitHubStandIn, forge: GitHubForge) -> None:
    """A restart on the same head reuses the queued check run; after completion a re-review makes a new one."""
    first = forge.start_check(HEAD)
    assert forge.start_check(HEAD).id == first.id
    forge.complete_check(first, report(0))
    assert forge.start_check(HEAD).id != first.id
    assert github.calls().count("checks/create") == 2


def test_review_posts_inline_comments_with_a_suggestion_and_reads_fingerprints_back(
    github: GitHubStandIn, forge: GitHubForge
) -> None:
    """One COMMENT review carries a multi-line comment with a suggestion block; its fingerprint reads back."""
    finding = cart_finding()
    comment = to_inline_comment(finding, parse_patch("cart.go", CART_PATCH))
    assert comment is not None
    review_id = forge.post_review(7, HEAD, [comment], "agentd reviewed this head.")
    assert review_id is not None
    review = github.state.reviews[int(review_id)]
    assert (review["event"], review["commit_id"]) == ("COMMENT", HEAD)
    (sent,) = review["comments"]
    assert (sent["path"], sent["start_line"], sent["line"], sent["side"]) == ("cart.go", 2, 3, "RIGHT")
    assert f"```suggestion\n{CART_FIX}\n```" in sent["body"]
    assert forge.posted_fingerprints(7) == {fingerprint(finding)}
    assert forge.post_review(7, HEAD, []) is None


def test_summary_comment_is_created_once_then_edited(github: GitHubStandIn, forge: GitHubForge) -> None:
    """The first head creates one marked comment; the next head edits it by id; no second comment appears."""
    first = forge.upsert_review_comment(7, comment_for(7, HEAD, "Looks good."), None)
    second = forge.upsert_review_comment(7, comment_for(7, "c" * 40, "Now a bug."), first)
    assert first == second
    bodies = [c["body"] for c in github.state.issue_comments.values()]
    assert len(bodies) == 1 and bodies[0].startswith(MARKER) and "Now a bug." in bodies[0]


def test_lost_comment_id_finds_the_marked_comment_on_a_later_page(github: GitHubStandIn, forge: GitHubForge) -> None:
    """With a stale id and 150 human comments first, the marked comment on page 2 is edited, not duplicated."""
    for n in range(150):
        github.state.issue_comments[n + 1] = {"pr": 7, "body": f"human {n}", "user": "alice"}
    github.state.issue_comments[500] = {"pr": 7, "body": f"{MARKER}\nold", "user": "agentd[bot]"}
    assert forge.upsert_review_comment(7, "new report", "999999") == "500"
    assert github.state.issue_comments[500]["body"] == f"{MARKER}\nnew report"
    assert len(github.state.issue_comments) == 151
    pages = [s.query.get("page") for s in github.seen if s.operation_id == "issues/list-comments"]
    assert pages == [["1"], ["2"]]


def test_fix_pull_request_is_a_draft_once_and_updated_after(github: GitHubStandIn, forge: GitHubForge) -> None:
    """agentd/pr-7 → fix-cart opens one draft PR; a later fix updates that PR instead of opening another."""
    opened = forge.upsert_fix_pull_request("agentd/pr-7", "fix-cart", "agentd: fix #7", "first fix")
    assert opened.created and github.state.pulls[opened.number].draft
    again = forge.upsert_fix_pull_request("agentd/pr-7", "fix-cart", "agentd: fix #7", "second fix")
    assert (again.number, again.created) == (opened.number, False)
    assert github.state.pulls[opened.number].body == "second fix"
    assert next(s.query["head"] for s in github.seen if s.operation_id == "pulls/list") == ["acme:agentd/pr-7"]


@pytest.mark.parametrize(
    ("login", "allowed"),
    [("alice", True), ("bob", True), ("carol", True), ("dave", False), ("erin", False), ("stranger", False)],
)
def test_write_access_follows_the_collaborator_permission(forge: GitHubForge, login: str, allowed: bool) -> None:
    """write, maintain and admin may command agentd; read, triage and non-collaborators may not."""
    assert forge.has_write_access(login) is allowed


def test_trust_needs_the_same_repository_or_a_writer(github: GitHubStandIn, forge: GitHubForge) -> None:
    """A job trusts a same-repository PR; a fork's PR only once GitHub reports its author with write access."""
    assert job_trusts(forge, 7)
    fork = forge.pull_request(8)
    assert (fork.head_repository, fork.author, fork.same_repository) == ("mallory/shop", "mallory", False)
    assert not job_trusts(forge, 8)
    github.state.permissions["mallory"] = "write"
    assert job_trusts(forge, 8)


def test_commit_status_mode_reports_a_branch_commit_with_a_comment(github: GitHubStandIn) -> None:
    """With commit statuses the head gets pending, pending, failure, and a branch commit gets the report comment."""
    forge = connect(github, checks="commit_status")
    check = forge.start_check(HEAD)
    forge.check_in_progress(check)
    forge.complete_check(check, report(2))
    assert [s["state"] for s in github.state.statuses] == ["pending", "pending", "failure"]
    assert {s["context"] for s in github.state.statuses} == {"agentd"}
    (comment,) = github.state.commit_comments
    assert "`cart.go:2` **finding 2**" in comment["body"]


def test_gitea_flavor_marks_drafts_by_title_and_folds_the_review_into_a_comment(github: GitHubStandIn) -> None:
    """Gitea has no draft flag and another review shape: the title says WIP and findings go in one comment."""
    forge = connect(github, kind="gitea", checks="commit_status")
    opened = forge.upsert_fix_pull_request("agentd/pr-7", "fix-cart", "agentd: fix #7", "fix")
    assert github.state.pulls[opened.number].title == "WIP: agentd: fix #7"
    assert "draft" not in next(s.body for s in github.seen if s.operation_id == "pulls/create")
    finding = Finding("cart.go", 2, "Total ignores items", "Always 0.", code="func Total")
    comment = to_inline_comment(finding, parse_patch("cart.go", CART_PATCH))
    assert comment is not None
    forge.post_review(7, HEAD, [comment])
    assert github.state.reviews == {}
    assert forge.posted_fingerprints(7) == {fingerprint(finding)}


def test_api_error_is_a_forge_error_without_the_token(github: GitHubStandIn, forge: GitHubForge) -> None:
    """A 403 becomes ForgeError with the status; neither its text nor the client's repr holds the token."""
    github.fail_next["issues/create-comment"] = (403, {"message": f"Bad credentials {TOKEN}"})
    with pytest.raises(ForgeError) as caught:
        forge.reply(7, "hi")
    assert caught.value.status == 403
    assert TOKEN not in str(caught.value) and TOKEN not in repr(forge)
    assert caught.value.__cause__ is None


def test_unreachable_api_is_a_forge_error_without_status(github: GitHubStandIn) -> None:
    """A connection refused becomes ForgeError with no status and no token."""
    forge = connect(github, api_url="http://127.0.0.1:9")
    with pytest.raises(ForgeError) as caught:
        forge.reply(7, "hi")
    assert caught.value.status is None and TOKEN not in str(caught.value)


def key_pair() -> tuple[str, str]:
    """A fresh RSA key pair for a test GitHub App: (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture(scope="module")
def app_key() -> tuple[str, str]:
    """The test App's key pair."""
    return key_pair()


def app_forge(stand_in: GitHubStandIn, private_key: str, **settings: object) -> GitHubForge:
    """A client authenticating as GitHub App 77 with `private_key`, aimed at the stand-in."""
    config = ForgeConfig.model_validate(
        {"kind": "github", "api_url": stand_in.url, "repository": REPO, "app_id": 77, **settings}
    )
    forge = open_forge(config, {"AGENTD_GITHUB_APP_KEY": private_key})
    assert isinstance(forge, GitHubForge)
    return forge


def test_github_app_finds_its_installation_and_works_with_one_installation_token(app_key: tuple[str, str]) -> None:
    """An App without an installation id looks it up with a signed JWT, mints one token and uses it for every call."""
    private, public = app_key
    stand_in = GitHubStandIn(app=(77, public))
    stand_in.state.pulls[7] = Pull(7, HEAD, "fix-cart", "main", "alice", REPO)
    try:
        forge = app_forge(stand_in, private)
        assert forge.check_runs  # checks = "auto" picks check runs for an App
        check = forge.start_check(HEAD, pr=7)
        forge.complete_check(check, report(3))
        forge.reply(7, "done")
        assert stand_in.calls()[:2] == ["apps/get-repo-installation", "apps/create-installation-access-token"]
        assert stand_in.calls().count("apps/create-installation-access-token") == 1
        used = {s.authorization for s in stand_in.seen[2:]}
        assert used == {f"token {next(iter(stand_in.issued))}"}
        assert stand_in.violations == []
    finally:
        stand_in.close()


def test_github_app_token_is_refreshed_before_it_expires(app_key: tuple[str, str]) -> None:
    """An installation token within a minute of expiry is never reused: each call gets a fresh one."""
    private, public = app_key
    stand_in = GitHubStandIn(app=(77, public), installation_token_ttl=timedelta(seconds=30))
    try:
        forge = app_forge(stand_in, private, app_installation_id=stand_in.installation_id)
        forge.reply(7, "one")
        forge.reply(7, "two")
        assert stand_in.calls() == [
            "apps/create-installation-access-token",
            "issues/create-comment",
            "apps/create-installation-access-token",
            "issues/create-comment",
        ]
        first, second = (s.authorization for s in stand_in.seen if s.operation_id == "issues/create-comment")
        assert first != second
        assert stand_in.violations == []
    finally:
        stand_in.close()


def test_github_app_with_a_key_the_app_does_not_have_is_refused(app_key: tuple[str, str]) -> None:
    """A JWT signed with another key fails at the forge, as ForgeError 401 without the key in its text."""
    _, public = app_key
    other, _ = key_pair()
    stand_in = GitHubStandIn(app=(77, public))
    try:
        forge = app_forge(stand_in, other)
        with pytest.raises(ForgeError) as caught:
            forge.reply(7, "hi")
        assert caught.value.status == 401
        assert "PRIVATE KEY" not in str(caught.value)
        assert any("bad App JWT" in v for v in stand_in.violations)
    finally:
        stand_in.close()
