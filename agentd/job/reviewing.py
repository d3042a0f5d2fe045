"""A job's review steps: where the review starts, the tests on a PR's base, the reviewer's findings recorded for
the forge, agentd's own review of changed SQL, and agentd's gate-passed fix turned into a one-click suggestion.

Each step updates the task's review record (agentd.job.review) and saves it, so what the forge shows is
what the store holds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from agentd.engine.lanes import show_test_run
from agentd.engine.verdicts import ReviewFinding
from agentd.forge.base import Finding
from agentd.forge.diff import parse_unified_diff
from agentd.job.context import JobContext
from agentd.job.findings import failing_tests_finding, from_review, local_fix, reportable, with_suggestion
from agentd.job.lanes import JobLanes
from agentd.job.review import ReviewState, save
from agentd.job.scope import ReviewScope, review_scope
from agentd.kernel import trace
from agentd.kernel.events import CommitPushed, PullRequestUpdated
from agentd.perf.sqlreview import ChangedFile, Database, review_sql
from agentd.repo.mirror import Mirror

MAX_SOURCE_BYTES = 1 << 20
REVIEWED = "reviewed:pr-"  # branch-head key prefix: the last PR head whose findings agentd posted


def head_lines(mirror: Mirror, rev: str) -> Callable[[str], list[str] | None]:
    """A reader of the lines of a file at `rev` (None when it is not a file there), each file read once."""
    read: dict[str, list[str] | None] = {}

    def lines(path: str) -> list[str] | None:
        if path not in read:
            text = mirror.read_file(rev, path, MAX_SOURCE_BYTES)
            read[path] = text.splitlines() if text is not None else None
        return read[path]

    return lines


def since(ctx: JobContext, view: PullRequestUpdated, full: bool) -> str | None:
    """Where an incremental review of the PR's head starts: its last reviewed head, when that is an ancestor."""
    if full or not ctx.deps.settings.review.incremental:
        return None
    last = ctx.deps.store.branch_head(ctx.deps.settings.repository.source, f"{REVIEWED}{view.number}")
    if last is None or last == view.head_sha or not ctx.deps.mirror.is_ancestor(last, view.head_sha):
        return None  # the first head, the same head again, or a rewritten branch: review it all
    return last


def start(
    ctx: JobContext, event: CommitPushed | None, view: PullRequestUpdated | None, full: bool, pr_branch: str
) -> tuple[ReviewState, ReviewScope]:
    """The review record and scope of a commit or PR head: what it is diffed against, where settings come from."""
    mirror, head = ctx.deps.mirror, ctx.base
    if view is not None:
        target = mirror.head(view.base_branch)
        base = mirror.merge_base(target, head) if target else mirror.parent(head)
        settings_rev, branch, begin = target or base or head, view.base_branch, since(ctx, view, full)
    else:
        base = mirror.parent(head)
        settings_rev, branch, begin = base or head, event.branch if event else "", None
    scope = review_scope(mirror, ctx.deps.settings.review, head, base, begin, settings_rev)
    state = ReviewState(
        head,
        pr=view.number if view else None,
        base=base,
        since=begin,
        target_branch=branch,
        pr_branch=pr_branch,
        trusted=ctx.trust.trusted,
        trust_reason=ctx.trust.why,
        reviewed=scope.reviewed,
        skipped=scope.skipped,
        instructions=scope.instructions,
        settings_error=scope.settings_error,
        severity=scope.settings.review.severity,
    )
    save(ctx.deps.store, ctx.task.id, state)
    return state, scope


def test_target(ctx: JobContext, lanes: JobLanes, state: ReviewState) -> None:
    """The tests on the PR's base (its merge base), to tell a PR that broke them from a base already broken."""
    if state.base is None:
        return
    worktree, sandbox = lanes.open_gate(state.base, "target")
    repository = ctx.deps.settings.repository
    try:
        with trace.span("base branch tests"):
            result = sandbox.run(repository.test_command, timeout_s=repository.test_timeout_s)
    finally:
        sandbox.close()
    shown = show_test_run(result, repository.test_command)
    ctx.record_version({"kind": "target", "sha": state.base, "tests_passed": result.ok, "test_output": shown})
    ctx.log.info("base branch tested", tests_passed=result.ok, worktree=worktree.name)


def record_findings(ctx: JobContext, state: ReviewState, scope: ReviewScope, found: Sequence[ReviewFinding]) -> None:
    """The reviewer's findings on the head, as the repository wants them reported, into the record."""
    read, redact = head_lines(ctx.deps.mirror, state.head), ctx.deps.redactor.text
    converted = [finding for item in found if (finding := from_review(item, read)) is not None]
    # a model's words go to the forge: masked like every other text agentd publishes
    masked = [dataclasses.replace(f, title=redact(f.title), message=redact(f.message)) for f in converted]
    state.set_findings(reportable(masked, scope.settings.review))
    save(ctx.deps.store, ctx.task.id, state)


def review_database(ctx: JobContext, state: ReviewState, scope: ReviewScope) -> None:
    """agentd's own review of the SQL the change adds or edits (EXPLAIN before and after, migration locks)."""
    paths = [path for path in state.reviewed if path.endswith((".go", ".sql"))]
    if not paths:
        return
    mirror, config, query = ctx.deps.mirror, ctx.deps.settings.review, ctx.deps.query
    diffs = parse_unified_diff(mirror.patch(state.base, state.head)) if state.base else {}
    old, new = head_lines(mirror, state.base) if state.base else None, head_lines(mirror, state.head)
    changes = []
    for path in paths:
        added = {n for n, line in diffs[path].lines.items() if line.old_line is None} if path in diffs else set()
        before = old(path) if old is not None else None
        after = new(path)
        text = "\n".join(after) + "\n" if after is not None else None
        changes.append(ChangedFile(path, "\n".join(before) + "\n" if before else None, text, frozenset(added)))
    database = None
    if query is not None and query.dsn and ctx.trust.trusted:
        rules = ctx.deps.policy.sql
        database = Database(query.dsn, rules, config.large_table_rows, config.plan_cost_ratio)
    elif query is not None and query.dsn:
        state.notes.append(
            "The target database was not queried for this untrusted pull request; only agentd's "
            "migration rules ran on its SQL."
        )
    found = review_sql(changes, database)
    extra = [Finding(f.path, f.line, f.title, f.message, f.severity, rule=f.rule, code=f.code) for f in found.findings]
    state.set_findings([*state.found(), *reportable(extra, scope.settings.review)])
    state.notes += [ctx.deps.redactor.text(note) for note in found.notes]
    save(ctx.deps.store, ctx.task.id, state)


def suggest(ctx: JobContext, state: ReviewState, fix_diff: str, failing: str | None) -> None:
    """After the gate passed: agentd's fix as a one-click suggestion when it is small and local.

    It goes on the finding it answers; when the head's tests failed (`failing` names what) and no finding is
    near the fix, on a finding of agentd's own saying so.
    """
    fix = local_fix(fix_diff, ctx.deps.settings.review.max_suggestion_lines)
    if fix is None:
        return
    lines = head_lines(ctx.deps.mirror, state.head)(fix.path)
    fallback = failing_tests_finding(fix, lines, failing) if failing is not None else None
    state.set_findings(with_suggestion(state.found(), fix, fallback))
    save(ctx.deps.store, ctx.task.id, state)
