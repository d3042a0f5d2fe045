"""A task's findings as a SARIF 2.1.0 log, for code-scanning tools (`agentd show ID --sarif`, and a report file).

Pure: the log is built from the task's review record. Each result carries agentd's fingerprint as a partial
fingerprint (so a tool can follow it across pushes) and, when agentd's gate passed a one-click suggestion
for it, that change as a SARIF fix.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from agentd.forge.base import Finding
from agentd.forge.findings import fingerprint
from agentd.store.records import Task

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}
RULES = {
    "agentd/review": "A finding of agentd's reviewer on the change",
    "agentd/tests": "The tests fail on this head; agentd's gate-passed fix is attached",
}


def _version() -> str:
    try:
        return metadata.version("agentd")
    except metadata.PackageNotFoundError:
        return "0"


def _rule(rule: str) -> dict[str, Any]:
    text = RULES.get(rule) or f"A finding of agentd's {rule.removeprefix('agentd/').replace('/', ' ')} check"
    return {"id": rule, "shortDescription": {"text": text}}


def _region(finding: Finding) -> dict[str, Any]:
    return {"startLine": finding.line, "endLine": finding.last_line}


def _result(finding: Finding, rule_index: int) -> dict[str, Any]:
    location = {"artifactLocation": {"uri": finding.path, "uriBaseId": "SRCROOT"}, "region": _region(finding)}
    result: dict[str, Any] = {
        "ruleId": finding.rule or "agentd/review",
        "ruleIndex": rule_index,
        "level": LEVELS[finding.severity],
        "message": {"text": f"{finding.title}\n\n{finding.message}".strip()},
        "locations": [{"physicalLocation": location}],
        "partialFingerprints": {"agentdFinding/v1": fingerprint(finding)},
    }
    if finding.suggestion is not None and finding.suggestion_passed_gate:
        inserted = finding.suggestion if finding.suggestion.endswith("\n") else finding.suggestion + "\n"
        result["fixes"] = [
            {
                "description": {"text": "agentd's fix; its gate re-ran the tests with the whole fix applied"},
                "artifactChanges": [
                    {
                        "artifactLocation": {"uri": finding.path, "uriBaseId": "SRCROOT"},
                        "replacements": [
                            {"deletedRegion": _region(finding), "insertedContent": {"text": inserted}},
                        ],
                    }
                ],
            }
        ]
    return result


def sarif_log(task: Task, findings: list[Finding], head: str | None = None) -> dict[str, Any]:
    """The SARIF 2.1.0 log of one task's findings (an empty result list when it found nothing)."""
    rules = sorted({finding.rule or "agentd/review" for finding in findings})
    index = {rule: position for position, rule in enumerate(rules)}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "agentd",
                "version": _version(),
                "rules": [_rule(rule) for rule in rules],
            }
        },
        "automationDetails": {"id": f"agentd/{task.kind}/task-{task.id}"},
        "results": [_result(f, index[f.rule or "agentd/review"]) for f in findings],
        "properties": {"task": task.id, "status": task.status, "head": head or task.base_sha or ""},
    }
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
