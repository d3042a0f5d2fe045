"""The check a head gets: its conclusion, title, summary and annotations, from the task's record. Pure.

The conclusion is about the head, never about agentd's fix: a head whose tests fail (and pass on the base
branch) or that carries a blocking finding fails the check; tests failing on the base branch too make it
neutral; a superseded head's check is cancelled.
"""

from __future__ import annotations

from agentd.forge.base import CheckConclusion, CheckReport, Finding
from agentd.forge.findings import to_annotation
from agentd.job.review import ReviewState
from agentd.store.records import CodeVersion, Task, TaskRecord

OUTCOME = {True: "passed", False: "FAILED", None: "not run"}
NAMED = 20  # paths listed by name in the summary, then a count


def _version(record: TaskRecord, kind: str) -> CodeVersion | None:
    found = [v for v in record.versions if v.kind == kind]
    return found[-1] if found else None


def conclusion(task: Task, record: TaskRecord, findings: list[Finding]) -> CheckConclusion:
    """The head's verdict: tests on the head and the base branch, blocking findings, how the job ended."""
    if task.status == "superseded":
        return "cancelled"
    head, target = _version(record, "base"), _version(record, "target")
    if task.status == "failed" or head is None:
        return "failure"
    blocking = any(f.severity == "error" for f in findings)
    if not head.tests_passed:
        already = target is not None and target.tests_passed is False
        return "neutral" if already and not blocking else "failure"
    return "failure" if blocking else "success"


def title(task: Task, record: TaskRecord, findings: list[Finding]) -> str:
    """One line: tests on the head, blocking findings, what agentd did."""
    if task.status == "superseded":
        return "Superseded by a newer head"
    if task.status == "failed":
        return "agentd could not finish this review"
    head, target = _version(record, "base"), _version(record, "target")
    parts = [f"tests {'pass' if head and head.tests_passed else 'fail'} on this head"]
    if target is not None and target.tests_passed is False:
        parts[0] += " (and on the base branch)"
    blocking = sum(f.severity == "error" for f in findings)
    parts.append(f"{blocking} blocking finding(s)" if blocking else "no blocking finding")
    if task.status == "fixed":
        parts.append("a fix passed agentd's gate")
    text = "; ".join(parts)
    return text[0].upper() + text[1:]


def _paths(paths: list[str]) -> str:
    shown = ", ".join(f"`{p}`" for p in paths[:NAMED])
    return shown + (f" and {len(paths) - NAMED} more" if len(paths) > NAMED else "")


def summary(task: Task, record: TaskRecord, review: ReviewState | None, fix_note: str = "") -> str:
    """What was reviewed and skipped, the tests on the base branch, the head and the fix, the verdict, the cost."""
    lines = [f"**Verdict:** {task.status.replace('_', ' ')}: {_first_line(task.summary)}", ""]
    if review is not None:
        lines += _scope_lines(review)
    head, target, final = _version(record, "base"), _version(record, "target"), _version(record, "final")
    branch = review.target_branch if review is not None and review.target_branch else "base branch"
    tests = [f"this head `{task.base_sha and task.base_sha[:12]}`: {OUTCOME[head.tests_passed if head else None]}"]
    if target is not None:
        tests.insert(0, f"`{branch}` at `{(target.sha or '')[:12]}`: {OUTCOME[target.tests_passed]}")
    elif review is not None and review.pr is not None:
        tests.insert(0, f"`{branch}`: not run (the head's tests pass)")
    if final is not None:
        tests.append(f"agentd's fix `{(final.sha or '')[:12]}`: {OUTCOME[final.tests_passed]} (the gate's own run)")
    lines.append("**Tests:** " + "; ".join(tests))
    if review is not None:
        lines.append(f"**Findings:** {_findings_line(review)}")
    if fix_note:
        lines.append(f"**Fix:** {fix_note}")
    usage = record.usage
    lines.append(
        f"**Model usage:** {usage.input_tokens:,} input + {usage.output_tokens:,} output tokens in "
        f"{usage.calls} call(s), ${usage.cost_usd:.4f}"
    )
    if review is not None:
        lines += [f"> {note}" for note in ([review.settings_error] if review.settings_error else []) + review.notes]
    return "\n".join(lines) + "\n"


def _scope_lines(review: ReviewState) -> list[str]:
    if review.since:
        what = f"what changed since the last reviewed head `{review.since[:12]}` (incremental)"
    elif review.base:
        what = f"the whole change against `{review.base[:12]}`"
    else:
        what = "the whole commit"
    reviewed = f"{len(review.reviewed)} file(s), {what}" + (f": {_paths(review.reviewed)}" if review.reviewed else "")
    skipped = _paths(review.skipped) + " (`review.skip` of the repository's settings)" if review.skipped else "none"
    guidance = _paths(review.instructions) if review.instructions else "none"
    return [f"**Reviewed:** {reviewed}", f"**Skipped:** {skipped}", f"**Instructions given to the team:** {guidance}"]


def _findings_line(review: ReviewState) -> str:
    findings = review.found()
    if not findings:
        return "none at or above the repository's threshold" if review.severity != "info" else "none"
    blocking = sum(f.severity == "error" for f in findings)
    suggested = sum(f.suggestion is not None for f in findings)
    text = f"{len(findings)} ({blocking} blocking), annotated at file:line"
    if review.inline:
        text += (
            f"; {review.inline.get('posted', 0)} new inline comment(s), {review.inline.get('already_posted', 0)} "
            f"posted before, {review.inline.get('off_diff', 0)} outside the diff"
        )
    if suggested:
        text += f"; {suggested} with a one-click suggestion that passed agentd's gate"
    return text


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "-")


def report(task: Task, record: TaskRecord, review: ReviewState | None, text: str, fix_note: str = "") -> CheckReport:
    """The completed check of the task's head: conclusion, title, summary, the report as details, annotations."""
    findings = review.found() if review is not None else []
    verdict = conclusion(task, record, findings)
    return CheckReport(
        conclusion=verdict,
        title=title(task, record, findings),
        summary=summary(task, record, review, fix_note),
        text=text,
        annotations=[to_annotation(f) for f in findings],
    )
