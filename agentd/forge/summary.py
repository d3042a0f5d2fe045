"""agentd's one summary comment per pull request: a marker to find it again, a heading naming the head."""

from __future__ import annotations

from agentd.forge.base import CheckReport

MARKER = "<!-- agentd-review -->"
MAX_COMMENT = 65_536  # GitHub refuses longer comment bodies; GitLab's limit is higher
_TRUNCATED = "\n\n… (report truncated; the full report is in agentd's state directory)\n"


def comment_for(pr: int, head_sha: str, report_markdown: str) -> str:
    """The body of agentd's review comment: the marker, a heading naming the head, the report."""
    head = f"{MARKER}\n## agentd review of #{pr} at `{head_sha[:12]}`\n\n"
    report = report_markdown.strip() + "\n"
    if len(head) + len(report) > MAX_COMMENT:
        report = report[: MAX_COMMENT - len(head) - len(_TRUNCATED)] + _TRUNCATED
    return head + report


def marked(body: str) -> str:
    """`body` starting with the marker (added when it does not)."""
    return body if body.startswith(MARKER) else f"{MARKER}\n{body}"


def is_marked(body: str | None) -> bool:
    """Whether a comment body is agentd's summary comment."""
    return (body or "").lstrip().startswith(MARKER)


def report_markdown(report: CheckReport) -> str:
    """A check's report as one comment (where there is no check run): title, summary, each annotation's place."""
    lines = [f"## {report.title}", "", report.summary.strip()]
    lines += [f"- `{a.path}:{a.start_line}` **{a.title}**: {a.message}" for a in report.annotations]
    return "\n".join(lines)
