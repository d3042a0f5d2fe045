"""The `code` tool through the toolbox: edits inside the workspace, refusals outside it, all audited."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from agentd.kernel.policy import load_policy
from agentd.kernel.redact import Redactor
from tools.code import CodeTool
from tools.registry import Toolbox


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A workspace with a Go file, a .git pointer file and a secret outside it."""
    ws = tmp_path / "ws"
    (ws / "cart").mkdir(parents=True)
    (ws / "cart" / "cart.go").write_text("package cart\n\nfunc A() int { return 1 }\n")
    (ws / ".git").write_text("gitdir: /elsewhere\n")
    (tmp_path / "outside.txt").write_text("host secret\n")
    (ws / "escape").symlink_to(tmp_path / "outside.txt")
    return ws


@pytest.fixture
def audit() -> list[dict[str, Any]]:
    """Audit records the toolbox writes."""
    return []


@pytest.fixture
def box(workspace: Path, audit: list[dict[str, Any]]) -> Toolbox:
    """A toolbox with only the code tool (no sandbox or database needed)."""
    policy = load_policy()
    return Toolbox(CodeTool(workspace, policy), None, None, policy, Redactor(["s3cr3t-value"]), audit.append)


def call(box: Toolbox, role: str = "proposer", **arguments: Any) -> dict[str, Any]:
    """Call the code tool; returns ok, decision, rule and output."""
    result = box.call(role, "code", json.dumps(arguments))
    return {"ok": result.ok, "decision": result.decision, "rule": result.rule, **result.output}


def tree_hash(root: Path) -> str:
    """A hash of every file under root, to prove nothing changed."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


def test_read_replace_create_list_search_delete(box: Toolbox, workspace: Path) -> None:
    """Each action does what it says inside the workspace."""
    assert "func A" in call(box, action="read", file_path="cart/cart.go")["content"]
    assert call(box, action="replace", file_path="cart/cart.go", old_text="return 1", new_text="return 2")["ok"]
    assert "return 2" in (workspace / "cart" / "cart.go").read_text()
    assert call(box, action="create", file_path="cart/new.go", content="package cart\n")["ok"]
    assert call(box, action="list", file_path=".")["files"] == ["cart/cart.go", "cart/new.go", "escape"]
    assert call(box, action="search", file_path=".", pattern=r"return \d")["matches"][0]["line"] == 3
    assert call(box, action="update", file_path="cart/new.go", content="package cart // x\n")["ok"]
    assert call(box, action="delete", file_path="cart/new.go")["ok"]
    assert not (workspace / "cart" / "new.go").exists()


@pytest.mark.parametrize(
    ("arguments", "rule"),
    [
        ({"action": "read", "file_path": "../outside.txt"}, "path-outside-workspace"),
        ({"action": "read", "file_path": "/etc/passwd"}, "path-outside-workspace"),
        ({"action": "read", "file_path": "escape"}, "path-outside-workspace"),
        ({"action": "update", "file_path": "escape", "content": "x"}, "path-outside-workspace"),
        ({"action": "read", "file_path": ".git"}, "git-metadata"),
        ({"action": "create", "file_path": ".git/hooks/pre-commit", "content": "#!/bin/sh"}, "git-metadata"),
        ({"action": "create", "file_path": "sub/.git/config", "content": "[core]"}, "git-metadata"),
        ({"action": "create", "file_path": ".env", "content": "KEY=1"}, "paths.deny:**/.env"),
    ],
)
def test_refusals_change_nothing(box: Toolbox, workspace: Path, arguments: dict[str, Any], rule: str) -> None:
    """Paths outside the workspace, through symlinks or into .git are refused and no file changes."""
    before = tree_hash(workspace.parent)
    result = call(box, **arguments)
    assert (result["ok"], result["decision"], result["rule"]) == (False, "refused", rule)
    assert "refused" in result["error"]
    assert tree_hash(workspace.parent) == before


def test_critic_cannot_write(box: Toolbox, workspace: Path) -> None:
    """A critic may read but its writes are refused by the role rule."""
    assert call(box, role="critic", action="read", file_path="cart/cart.go")["ok"]
    result = call(box, role="critic", action="update", file_path="cart/cart.go", content="x")
    assert result["rule"] == "role:critic"
    assert "func A" in (workspace / "cart" / "cart.go").read_text()


@pytest.mark.parametrize(
    ("name", "raw", "decision", "fragment"),
    [
        ("code", "{not json", "invalid", "not valid JSON (Expecting property name enclosed in double quotes"),
        ("code", '{"action": "read"}', "failed", 'read needs file_path, a file relative to the workspace root; "list'),
        ("code", '{"action": "search", "content": "x"}', "failed", "search needs pattern, a regular expression"),
        ("code", '{"action": "explode"}', "invalid", "action"),
        ("code", '{"action": "read", "file_path": "x", "evil": 1}', "invalid", "evil"),
        ("shell", '{"cmd": "id"}', "invalid", "unknown tool 'shell'"),
        ("execute_command", '{"command": ["go", "test"]}', "refused", "may not run commands"),
        ("query_database", '{"sql": "select 1"}', "refused", "no target database"),
    ],
)
def test_malformed_and_unknown_calls_return_errors(
    box: Toolbox, audit: list[dict[str, Any]], name: str, raw: str, decision: str, fragment: str
) -> None:
    """Malformed JSON, bad arguments and unknown tools come back as error results and are audited."""
    result = box.call("proposer", name, raw)
    assert not result.ok
    assert result.decision == decision
    assert fragment in result.error_text()
    assert audit[-1]["tool"] == name and audit[-1]["decision"] == decision


def test_replace_must_match_exactly_once(box: Toolbox) -> None:
    """replace refuses text that occurs zero or several times."""
    assert (
        "occurs 0 times" in call(box, action="replace", file_path="cart/cart.go", old_text="zzz", new_text="y")["error"]
    )
    call(box, action="create", file_path="two.txt", content="ab ab")
    assert "occurs 2 times" in call(box, action="replace", file_path="two.txt", old_text="ab", new_text="c")["error"]


def test_secrets_are_redacted_from_results_and_audit(box: Toolbox, audit: list[dict[str, Any]]) -> None:
    """A secret value in a file or in arguments never reaches the model's result or the audit trail."""
    call(box, action="create", file_path="leak.txt", content="token=s3cr3t-value")
    result = call(box, action="read", file_path="leak.txt")
    assert "s3cr3t-value" not in json.dumps(result)
    assert all("s3cr3t-value" not in json.dumps(record) for record in audit)
