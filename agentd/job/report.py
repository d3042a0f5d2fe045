"""Plain-text and Markdown views of a task's record, for `agentd show` and report files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from agentd.store.records import CodeVersion, Task, TaskRecord, ToolCall


def _when(stamp: float | None) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if stamp else "-"


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _call_line(call: ToolCall) -> str:
    marker = {"allowed": "✓", "refused": "✗ REFUSED", "invalid": "✗ INVALID", "failed": "! FAILED"}
    outcome = marker.get(call.decision, call.decision)
    exit_code = f" exit={call.exit_code}" if call.exit_code is not None else ""
    rule = f" [{call.rule}]" if call.rule else ""
    error = f" — {_short(call.output.get('error', ''), 120)}" if not call.ok and call.output.get("error") else ""
    return (
        f"      {call.tool}({_short(call.arguments, 100)}) {outcome}{rule}{exit_code} {call.duration_ms:.0f}ms{error}"
    )


def _protocol_lines(verdict: dict[str, Any], prefix: str = "") -> list[str]:
    """The protocol's own record: vote candidates and ballots, or the negotiation's table, critiques, votes."""
    lines: list[str] = []
    if verdict.get("protocol") == "vote" and verdict.get("candidates") is not None:
        lines.append(f"  {prefix}vote: {len(verdict['candidates'])} candidate(s), groups {verdict.get('groups')}")
        for candidate in verdict["candidates"]:
            lines.append(f"    candidate {candidate['id']}: tests {candidate['tests']}")
        for ballot in verdict.get("ballots", []):
            lines.append(f"    ballot {ballot['voter']} -> {ballot['candidate_id']} ({ballot['confidence']:.2f})")
    if verdict.get("protocol") == "negotiation":
        lines.append(f"  {prefix}proposals:")
        lines.append(f"    {'PARTICIPANT':12} {'APPROACH':60} CHANGES  RISKS  ESTIMATE")
        for row in verdict.get("proposals", []):
            lines.append(
                f"    {row['participant']:12} {_short(row.get('approach', ''), 60):60} "
                f"{len(row.get('changes', [])):>7}  {len(row.get('risks', [])):>5}  {row.get('estimate_minutes')}"
            )
        for who, critique in (verdict.get("critiques") or {}).items():
            objections = "; ".join(
                f"{o['participant']}: {o['reason']} ({o['severity']})" for o in critique.get("objections", [])
            )
            lines.append(f"  critique {who}: supports {critique.get('supports', [])}; objects {objections or '-'}")
        lines.append(f"  first vote (support): {verdict.get('first_vote')}; kept {verdict.get('kept')}")
        second = ", ".join(f"{v['voter']}->{v['candidate_id']}" for v in verdict.get("second_vote", []))
        lines.append(f"  second vote: {second or '-'}")
    if verdict.get("decision"):
        decision = verdict["decision"]
        lines.append(
            f"  {prefix}decision: winner {decision.get('winner')}, agreed {decision.get('agreed')}, "
            f"support {decision.get('support', 0):.2f} ({decision.get('rule')})"
        )
    for dropped in verdict.get("dropped", []) or []:
        lines.append(f"  dropped from the quorum: {dropped['participant']} — {_short(dropped['reason'], 100)}")
    return lines


def tested(record: TaskRecord) -> list[CodeVersion]:
    """The trees agentd tested (the drafts a resumed job restores lanes from are not evidence)."""
    return [version for version in record.versions if not version.kind.startswith("draft:")]


def render_task(task: Task, record: TaskRecord) -> str:
    """The debate of one task as text: turns with their tool calls, the verdict and the commit."""
    lines = [
        f"task {task.id} ({task.kind}) — {task.status}",
        f"  {task.description.splitlines()[0] if task.description else ''}",
        f"  created {_when(task.created_at)}, finished {_when(task.finished_at)}",
        f"  base {task.base_sha or '-'}",
    ]
    for version in tested(record):
        passed = {True: "pass", False: "FAIL", None: "-"}[version.tests_passed]
        lines.append(f"  tests on {version.kind} tree: {passed}" + (f" ({version.sha[:7]})" if version.sha else ""))
    for session in record.sessions:
        lines.append(f"\ndebate session {session.id} ({session.protocol}, {session.strategy}): {session.status}")
        calls = session.tool_calls
        for turn in session.turns:
            lines.append(
                f"  [{turn.seq}] {turn.agent} ({turn.model}) — {turn.status}, "
                f"{turn.input_tokens}+{turn.output_tokens} tokens"
            )
            if turn.content:
                lines.append(f"      says: {_short(turn.content)}")
            lines.extend(_call_line(c) for c in calls if c.turn_seq == turn.seq and c.agent == turn.agent)
            if turn.submission:
                lines.append(f"      submits: {_short(turn.submission, 300)}")
        if session.verdict:
            verdict = session.verdict
            lines.extend(_protocol_lines(verdict.get("escalated_from") or {}, "escalated from: "))
            lines.extend(_protocol_lines(verdict))
            lines.append(
                f"  verdict ({verdict.get('protocol', session.protocol)}): "
                f"{'accepted' if verdict['accepted'] else 'not accepted'} — {_short(verdict['reason'])}"
            )
            if verdict.get("votes"):
                lines.append(f"  votes: {', '.join(str(v) for v in verdict['votes'])}")
    usage = record.usage
    lines.append(
        f"\nusage: {usage.calls} model calls, {usage.input_tokens} input + {usage.output_tokens} output tokens"
    )
    if task.branch:
        lines.append(f"commit: {task.commit_sha} on {task.branch} (tests passed: {task.tests_passed})")
    else:
        lines.append("commit: none")
    if task.summary:
        lines.append(f"summary: {task.summary}")
    return "\n".join(lines)


def _findings(record: TaskRecord) -> list[dict[str, Any]]:
    found = []
    for session in record.sessions:
        for turn in session.turns:
            submission = turn.submission or {}
            for finding in submission.get("findings", []) if isinstance(submission, dict) else []:
                found.append({**finding, "by": turn.agent})
    return found


def render_markdown(task: Task, record: TaskRecord) -> str:
    """The review report as Markdown: summary, findings with file:line, evidence, votes, commit."""
    lines = [f"## agentd review — task {task.id}: {task.status}", "", task.description, ""]
    if task.summary:
        lines += ["### Summary", "", task.summary, ""]
    findings = _findings(record)
    lines += ["### Findings", ""]
    if findings:
        lines += ["| severity | where | finding | by |", "| --- | --- | --- | --- |"]
        for f in findings:
            where = f"`{f.get('file')}:{f.get('line')}`" if f.get("file") else "-"
            message = str(f.get("message", "")).replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {f.get('severity')} | {where} | {message} | {f['by']} |")
    else:
        lines.append("No findings.")
    lines += ["", "### Evidence (agentd's own test runs)", ""]
    for version in tested(record):
        outcome = {True: "passed", False: "FAILED", None: "not run"}[version.tests_passed]
        sha = f" `{version.sha[:7]}`" if version.sha else ""
        lines.append(f"- {version.kind} tree{sha}: tests {outcome}")
    for session in record.sessions:
        votes = (session.verdict or {}).get("votes")
        if votes:
            lines += ["", f"### Votes (session {session.id})", "", ", ".join(votes)]
    failed = [turn for session in record.sessions for turn in session.turns if turn.status == "failed"]
    if failed:  # a model that could not answer: its turn was dropped, and the report says why
        lines += ["", "### Problems", ""] + [f"- {t.agent} ({t.model}): {_short(t.content, 300)}" for t in failed]
    job = record.job
    if job is not None and job.attempts > 1:  # what interrupted the earlier attempts, so nobody wonders
        lines += ["", "### Attempts", "", f"{job.attempts} attempts; the last interruption: {job.error or 'unknown'}"]
    lines += ["", "### Result", ""]
    if task.branch:
        lines.append(f"Fix committed on `{task.branch}` (`{(task.commit_sha or '')[:12]}`), tests green.")
    else:
        lines.append("No commit.")
    return "\n".join(lines) + "\n"
