"""agentd where reviews happen, end to end: a real daemon, real Docker, real git (a bare repository as the forge's
git side), the scripted model, and the GitHub stand-in checking every request against GitHub's description."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from agentd.demo import BROKEN_CART_GO
from agentd.forge.findings import fingerprints_in
from agentd.forge.summary import MARKER
from agentd.store import open_store
from agentd.store.base import Task
from tests.conftest import git
from tests.support.github_api import GitHubStandIn, Pull
from tests.support.gitlab_api import GitLabStandIn, MergeRequest
from tests.support.webhooks import post_delivery
from tests.test_pull_requests import forge, push_pr, run_daemon, tasks, watching, write_config

pytestmark = pytest.mark.docker
TOKEN = "ghp_forge_review_token"
FIXED_LINE = "\t\ttotal += it.Price * it.Qty"


def forge_config(config_path: Path, github: GitHubStandIn, *extra: str) -> None:
    """Use the `review` script (a reviewer finding at cart/cart.go:15) and the stand-in as a GitHub with checks."""
    text = config_path.read_text().replace('script = "demo"', 'script = "review"')
    config_path.write_text(
        text + f'[forge]\nkind = "github"\napi_url = "{github.url}"\nrepository = "acme/shop"\n'
        'token_env = "AGENTD_TEST_GITHUB_TOKEN"\nchecks = "check_run"\n' + "".join(extra)
    )


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubStandIn]:
    """The GitHub stand-in, its token in the environment; at teardown every request must have been GitHub-valid."""
    stand_in = GitHubStandIn(tokens={TOKEN})
    monkeypatch.setenv("AGENTD_TEST_GITHUB_TOKEN", TOKEN)
    yield stand_in
    stand_in.close()
    assert stand_in.violations == []


def shop(sample_repo: Path, tmp_path: Path, github: GitHubStandIn, *extra: str) -> tuple[Path, Path, Path]:
    """The forge's bare repository, a developer's clone, and agentd's config (untrusted PRs unless the forge
    or the repository says otherwise) aimed at the stand-in."""
    remote, dev = forge(sample_repo, tmp_path)
    config_path = write_config(tmp_path, remote, trusted=False)
    forge_config(config_path, github, *extra)
    return remote, dev, config_path


def test_a_pr_gets_a_check_inline_suggestions_one_summary_no_repeats_and_a_draft_fix_pr(
    sample_repo: Path, tmp_path: Path, sandbox_image: str, github: GitHubStandIn
) -> None:
    """Two pushes to a trusted PR whose head breaks the tests: each head's check run is in progress before the job
    starts any sandbox and completes with annotations; the finding is posted once, inline, with a suggestion
    agentd's gate passed; one summary comment; one draft fix PR from agentd/pr-7 into the PR's branch, updated on
    the second fix; every request GitHub-valid."""
    github.state.permissions["alice"] = "write"
    (sample_repo / "cart" / "AGENTS.md").write_text("Prices are cents; keep Total a single pass.\n")
    git(sample_repo, "add", "cart/AGENTS.md")
    git(sample_repo, "commit", "-q", "-m", "cart: instructions for agents")
    remote, dev, config_path = shop(sample_repo, tmp_path, github)  # trusted: a branch of the repository itself
    heads: list[str] = []

    def pushed(files: dict[str, str], message: str) -> None:
        heads.append(push_pr(dev, 7, files, message))
        github.state.pulls[7] = Pull(7, heads[-1], "feature", "main", "alice", "acme/shop")

    def done() -> bool:
        finished = [t for t in tasks(config_path) if t.done]
        if not heads and watching(config_path):
            git(dev, "checkout", "-q", "-b", "feature")
            pushed({"cart/cart.go": BROKEN_CART_GO}, "cart: apply quantities at checkout")
        elif len(heads) == 1 and len(finished) == 1:
            pushed({"docs/notes.md": "Quantities: see cart.\n"}, "docs: a note")  # leaves the finding's lines alone
        return len(finished) == 2

    run_daemon(config_path, done, timeout_s=600)
    first, second = tasks(config_path)
    assert (first.status, second.status) == ("fixed", "fixed"), (first.summary, second.summary)
    state = github.state

    runs = sorted(state.check_runs.items())
    assert [(run["head_sha"], run["status"], run.get("conclusion")) for _, run in runs] == [
        (heads[0], "completed", "failure"),
        (heads[1], "completed", "failure"),
    ]
    for run_id, run in runs:
        places = {(a["path"], a["start_line"], a["annotation_level"]) for a in state.annotations[run_id]}
        assert ("cart/cart.go", 14, "failure") in places
        assert "**Tests:**" in run["summary"] and "FAILED" in run["summary"] and "**Model usage:**" in run["summary"]
        assert "**Instructions given to the team:** `cart/AGENTS.md`" in run["summary"]
    assert "(incremental)" in runs[1][1]["summary"] and "`docs/notes.md`" in runs[1][1]["summary"]

    comments = list(state.review_comments.values())
    marks = [fingerprints_in(c["body"]) for c in comments]
    assert len(comments) == len(set().union(*marks)) >= 1  # each finding once, though both heads found it
    suggested = [c for c in comments if "```suggestion" in c["body"]]
    assert len(suggested) == 1
    (comment,) = suggested
    assert (comment["path"], comment["start_line"], comment["line"], comment["commit_id"]) == (
        "cart/cart.go",
        14,
        15,
        heads[0],
    )
    assert f"```suggestion\n{FIXED_LINE}\n```" in comment["body"]
    assert len(state.reviews) == 1  # the second head had nothing new to post

    summaries = [c for c in state.issue_comments.values() if c["body"].startswith(MARKER)]
    assert len(summaries) == 1 and heads[1][:12] in summaries[0]["body"]

    fix_prs = [p for p in state.pulls.values() if p.head_ref == "agentd/pr-7"]
    assert len(fix_prs) == 1
    assert (fix_prs[0].base_ref, fix_prs[0].draft) == ("feature", True)
    assert git(remote, "rev-parse", "agentd/pr-7") == second.commit_sha
    assert git(remote, "rev-parse", "agentd/pr-7^") == heads[1]
    store = open_store(f"sqlite:///{tmp_path / 'state' / 'agentd.db'}")
    finals = [v for t in (first, second) for v in store.task_record(t.id).versions if v.kind == "final"]
    assert [v.tests_passed for v in finals] == [True, True]  # the suggested fix is the one the gate passed
    for task, head in zip((first, second), heads, strict=True):  # the first sign waits for no lane
        sandboxes = [s.started_at for s in store.task_spans(task.id) if s.name == "sandbox start"]
        assert sandboxes and in_progress_at(github, head) < min(sandboxes)
    store.close()
    sarif = json.loads((tmp_path / "state" / "reports" / f"task-{first.id}.sarif").read_text())
    assert any("fixes" in result for result in sarif["runs"][0]["results"])


def in_progress_at(github: GitHubStandIn, head: str) -> float:
    """When the stand-in received the one update marking `head`'s check run in progress."""
    runs = {str(run_id) for run_id, run in github.state.check_runs.items() if run["head_sha"] == head}
    (marked,) = [
        seen.at
        for seen in github.seen
        if seen.operation_id == "checks/update"
        and seen.path.rsplit("/", 1)[-1] in runs
        and seen.body.get("status") == "in_progress"
    ]
    return marked


def fork_pr_fixed(sample_repo: Path, tmp_path: Path, github: GitHubStandIn, permission: str) -> tuple[Path, Task]:
    """PR #7 from mallory's fork, which breaks the tests, with mallory's permission on the forge as given;
    the forge's bare repository and the task once agentd fixed it."""
    github.state.permissions["mallory"] = permission
    remote, dev, config_path = shop(sample_repo, tmp_path, github)
    heads: list[str] = []

    def done() -> bool:
        if not heads and watching(config_path):
            git(dev, "checkout", "-q", "-b", "patch-1")
            heads.append(push_pr(dev, 7, {"cart/cart.go": BROKEN_CART_GO}, "cart: apply quantities at checkout"))
            github.state.pulls[7] = Pull(7, heads[0], "patch-1", "main", "mallory", "mallory/shop")
        return bool(heads) and any(t.done for t in tasks(config_path))

    run_daemon(config_path, done)
    (task,) = tasks(config_path)
    assert task.status == "fixed", task.summary
    return remote, task


def test_an_untrusted_prs_fix_is_offered_only_as_a_suggestion_and_the_patch(
    sample_repo: Path, tmp_path: Path, sandbox_image: str, github: GitHubStandIn
) -> None:
    """A fork's PR by an author without write access: the gate-passed fix is a suggestion on the finding and a
    patch in the summary; no branch is pushed and no fix pull request is opened."""
    remote, _task = fork_pr_fixed(sample_repo, tmp_path, github, "read")
    assert git(remote, "for-each-ref", "--format=%(refname)", "refs/heads").split() == ["refs/heads/main"]
    assert [p.head_ref for p in github.state.pulls.values()] == ["patch-1"]  # no fix pull request
    suggested = [c for c in github.state.review_comments.values() if "```suggestion" in c["body"]]
    assert len(suggested) == 1 and FIXED_LINE in suggested[0]["body"]
    (summary,) = [c["body"] for c in github.state.issue_comments.values() if c["body"].startswith(MARKER)]
    assert "Not pushed: PR #7 by mallory is untrusted" in summary and "+" + FIXED_LINE in summary
    (run,) = github.state.check_runs.values()
    assert "**Fix:** kept in agentd's clone as `agentd/pr-7`, never pushed" in run["summary"]


def test_a_fork_pr_by_an_author_the_forge_reports_with_write_access_is_trusted(
    sample_repo: Path, tmp_path: Path, sandbox_image: str, github: GitHubStandIn
) -> None:
    """The same fork's PR once GitHub reports mallory with write access: the job trusts it on the forge's word, so
    agentd/pr-7 is pushed; no fix pull request, since none can target a branch in a fork, and the check says so."""
    remote, task = fork_pr_fixed(sample_repo, tmp_path, github, "write")
    assert git(remote, "rev-parse", "agentd/pr-7") == task.commit_sha
    assert [p.head_ref for p in github.state.pulls.values()] == ["patch-1"]
    (summary,) = [c["body"] for c in github.state.issue_comments.values() if c["body"].startswith(MARKER)]
    assert "Not pushed" not in summary
    (run,) = github.state.check_runs.values()
    assert "lives in a fork, so no pull request can target it" in run["summary"]


def test_a_failing_commit_gets_a_status_a_report_and_a_draft_fix_pr_into_its_branch(
    sample_repo: Path, tmp_path: Path, sandbox_image: str, github: GitHubStandIn
) -> None:
    """With a token (commit statuses, no check runs) and commit_fix_pull_requests = "draft": a commit that breaks
    main gets pending → failure statuses, its report with each finding's file:line as a commit comment, and a
    draft pull request from agentd/commit-<sha7> into main."""
    _remote, dev, config_path = shop(sample_repo, tmp_path, github, 'commit_fix_pull_requests = "draft"\n')
    config_path.write_text(config_path.read_text().replace('checks = "check_run"\n', ""))
    pushed: list[str] = []

    def done() -> bool:
        if not pushed and watching(config_path):
            (dev / "cart" / "cart.go").write_text(BROKEN_CART_GO)
            git(dev, "commit", "-q", "-am", "cart: apply quantities at checkout")
            git(dev, "push", "-q", "origin", "HEAD:main")
            pushed.append(git(dev, "rev-parse", "HEAD"))
        return bool(pushed) and any(t.done for t in tasks(config_path))

    run_daemon(config_path, done)
    (task,) = tasks(config_path)
    assert (task.kind, task.status, task.branch) == ("commit", "fixed", f"agentd/commit-{pushed[0][:7]}")
    assert [(s["sha"], s["state"]) for s in github.state.statuses] == [(pushed[0], "pending")] * 2 + [
        (pushed[0], "failure")
    ]
    assert github.state.check_runs == {}
    (comment,) = github.state.commit_comments
    assert comment["sha"] == pushed[0] and "`cart/cart.go:14`" in comment["body"]
    (fix,) = [p for p in github.state.pulls.values()]
    assert (fix.head_ref, fix.base_ref, fix.draft) == (task.branch, "main", True)


def test_a_gitlab_merge_request_gets_a_status_diff_discussions_with_suggestions_a_note_and_a_draft_mr(
    sample_repo: Path, tmp_path: Path, sandbox_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same job on GitLab (python-gitlab against a stand-in checking python-gitlab's endpoints): the status goes
    pending → running → failed, the finding is a diff discussion with GitLab's suggestion block, the summary is one
    note, and the fix is a draft merge request from agentd/pr-7 into the MR's branch."""
    gitlab = GitLabStandIn(TOKEN)
    monkeypatch.setenv("AGENTD_TEST_GITLAB_TOKEN", TOKEN)
    remote, dev = forge(sample_repo, tmp_path)
    config_path = write_config(tmp_path, remote, trusted=False)
    text = config_path.read_text().replace('script = "demo"', 'script = "review"')
    config_path.write_text(
        text + f'[forge]\nkind = "gitlab"\napi_url = "{gitlab.url}"\nrepository = "acme/shop"\n'
        'token_env = "AGENTD_TEST_GITLAB_TOKEN"\n'
    )
    heads: list[str] = []

    def done() -> bool:
        if not heads and watching(config_path):
            git(dev, "checkout", "-q", "-b", "feature")
            for name, content in {"cart/cart.go": BROKEN_CART_GO}.items():
                (dev / name).write_text(content)
            git(dev, "commit", "-q", "-am", "cart: apply quantities at checkout")
            git(dev, "push", "-q", "origin", "HEAD:refs/merge-requests/7/head")
            heads.append(git(dev, "rev-parse", "HEAD"))
            gitlab.state.merge_requests[7] = MergeRequest(7, heads[0], "feature", "main", "alice")
        return bool(heads) and any(t.done for t in tasks(config_path))

    try:
        run_daemon(config_path, done)
    finally:
        gitlab.close()
    (task,) = tasks(config_path)
    assert task.status == "fixed", task.summary
    assert [(s["sha"], s["state"]) for s in gitlab.state.statuses] == [
        (heads[0], "pending"),
        (heads[0], "running"),
        (heads[0], "failed"),
    ]
    notes = list(gitlab.state.notes.values())
    discussions = [n for n in notes if n.get("position")]
    suggested = [n for n in discussions if "```suggestion:-1+0" in n["body"]]
    assert len(suggested) == 1 and FIXED_LINE in suggested[0]["body"]
    assert suggested[0]["position"]["new_line"] == 15 and suggested[0]["position"]["new_path"] == "cart/cart.go"
    assert len([n for n in notes if n["body"].startswith(MARKER)]) == 1
    (fix,) = [mr for mr in gitlab.state.merge_requests.values() if mr.source_branch == "agentd/pr-7"]
    assert fix.target_branch == "feature" and fix.title.startswith("Draft: ")
    assert gitlab.violations == []


LEDGER_GO = """package ledger

import "database/sql"

// Latest lists the entries of account a7.
func Latest(db *sql.DB) (*sql.Rows, error) {
\treturn db.Query("SELECT id, amount FROM ledger WHERE account = 'a7'")
}
"""


@pytest.mark.postgres
def test_a_prs_sql_is_explained_on_the_target_database_and_a_locking_migration_is_flagged(
    sample_repo: Path,
    tmp_path: Path,
    sandbox_image: str,
    monkeypatch: pytest.MonkeyPatch,
    postgres_dsn: str,
    github: GitHubStandIn,
) -> None:
    """A trusted PR adding a query that scans the 20,000-row ledger and a migration indexing it without
    CONCURRENTLY: the check fails with both findings at their lines, posted inline; the database is unchanged."""
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS ledger")
        conn.execute("CREATE TABLE ledger (id bigint PRIMARY KEY, account text NOT NULL, amount int NOT NULL)")
        conn.execute("INSERT INTO ledger SELECT g, 'a' || (g % 2000), g % 97 FROM generate_series(1, 20000) g")
        conn.execute("ANALYZE ledger")
    monkeypatch.setenv("AGENTD_TEST_APP_DSN", postgres_dsn)
    _remote, dev, config_path = shop(
        sample_repo, tmp_path, github, '[target_database]\ndsn_env = "AGENTD_TEST_APP_DSN"\n'
    )
    config_path.write_text(
        config_path.read_text().replace('script = "review"', 'script = "demo"') + "[review]\nlarge_table_rows = 10000\n"
    )
    heads: list[str] = []
    migration = "-- speed up Latest\nCREATE INDEX ledger_account ON ledger (account);\n"

    def done() -> bool:
        if not heads and watching(config_path):
            git(dev, "checkout", "-q", "-b", "feature")
            files = {"ledger/ledger.go": LEDGER_GO, "migrations/0002_ledger_account.sql": migration}
            heads.append(push_pr(dev, 7, files, "ledger: latest entry"))
            github.state.pulls[7] = Pull(7, heads[0], "feature", "main", "alice", "acme/shop")
        return bool(heads) and any(t.done for t in tasks(config_path))

    run_daemon(config_path, done)
    (task,) = tasks(config_path)
    assert task.status == "reviewed", task.summary
    (run_id, run), *_ = github.state.check_runs.items()
    assert run["conclusion"] == "failure"
    places = {(a["path"], a["start_line"], a["annotation_level"]) for a in github.state.annotations[run_id]}
    assert places == {("ledger/ledger.go", 7, "warning"), ("migrations/0002_ledger_account.sql", 2, "failure")}
    bodies = {c["path"]: c["body"] for c in github.state.review_comments.values()}
    assert "Seq Scan on ledger reads 20,000 rows" in bodies["ledger/ledger.go"]
    assert "about 20,000 rows" in bodies["migrations/0002_ledger_account.sql"]
    assert "CREATE INDEX CONCURRENTLY" in bodies["migrations/0002_ledger_account.sql"]
    with psycopg.connect(postgres_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'ledger'").fetchone() == (1,)


def free_port() -> int:
    """A TCP port nothing listens on now (the webhook binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def deliver_comment(url: str, secret: bytes, body: str, login: str, comment_id: int) -> int:
    """A signed issue_comment delivery of `login` saying `body` on PR #7 (the fields agentd reads)."""
    payload = {
        "action": "created",
        "issue": {"number": 7, "pull_request": {"url": "https://github.test/acme/shop/pulls/7"}},
        "comment": {"id": comment_id, "body": body, "user": {"login": login, "type": "User"}},
    }
    return post_delivery(url, secret, "issue_comment", f"c-{comment_id}", payload)[0]


def test_commands_in_comments_are_answered_done_or_refused(
    sample_repo: Path, tmp_path: Path, sandbox_image: str, monkeypatch: pytest.MonkeyPatch, github: GitHubStandIn
) -> None:
    """`/agentd review` from a writer gets a full review of the PR's current head and an answer saying it is done,
    `/agentd explain` the reviewer's explanation (and no check); the same from a reader, and an unknown verb, are
    refused with the reason; every command gets one answer."""
    monkeypatch.setenv("AGENTD_WEBHOOK_SECRET", "whsec-commands")
    github.state.permissions.update(alice="write", dave="read")
    port = free_port()
    _, dev, config_path = shop(sample_repo, tmp_path, github, f'[webhook]\nlisten = "127.0.0.1:{port}"\n')
    git(dev, "checkout", "-q", "-b", "feature")
    (dev / "docs").mkdir()
    (dev / "docs" / "notes.md").write_text("a note\n")
    git(dev, "add", "docs/notes.md")
    git(dev, "commit", "-q", "-m", "docs: a note")
    git(dev, "push", "-q", "origin", "HEAD:refs/heads/feature")  # a branch only: no PR ref, so no PR job
    head = git(dev, "rev-parse", "HEAD")
    github.state.pulls[7] = Pull(7, head, "feature", "main", "bob", "acme/shop")
    url, sent = f"http://127.0.0.1:{port}/webhook", list[int]()

    def done() -> bool:
        if not sent and watching(config_path):
            sent.append(deliver_comment(url, b"whsec-commands", "/agentd review", "alice", 501))
            sent.append(deliver_comment(url, b"whsec-commands", "/agentd review", "dave", 502))
            sent.append(deliver_comment(url, b"whsec-commands", "/agentd deploy now", "alice", 503))
            sent.append(deliver_comment(url, b"whsec-commands", "/agentd explain", "alice", 504))
        return len(sent) == 4 and len([t for t in tasks(config_path) if t.done]) == 4

    run_daemon(config_path, done)
    assert sent == [202, 202, 202, 202]
    statuses = {getattr(t.event, "comment_id", None): t.status for t in tasks(config_path)}
    assert statuses == {501: "reviewed", 502: "refused", 503: "refused", 504: "reviewed"}
    answers = sorted(c["body"] for c in github.state.issue_comments.values() if not c["body"].startswith(MARKER))
    assert len(answers) == 4
    assert any(
        a.startswith("> /agentd explain\n\n@alice: done.\n\nTotal ignores each item's quantity") for a in answers
    )
    assert any(a.startswith("> /agentd review\n\n@alice: done (reviewed).") for a in answers)
    assert any(
        a.startswith("> /agentd review\n\n@dave: refused. the forge does not report write access for dave")
        for a in answers
    )
    assert any(
        a.startswith("> /agentd deploy now\n\n@alice: refused. `deploy` is not one of agentd's commands")
        for a in answers
    )
    (run,) = github.state.check_runs.values()
    assert (run["head_sha"], run["status"]) == (head, "completed")
    assert "the whole change against" in run["summary"]  # a command asks for a full review
