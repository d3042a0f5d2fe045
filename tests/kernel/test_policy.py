"""The tool policy: argv patterns, wrappers, shell operators, paths and role limits (pure data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentd.kernel.errors import ConfigError
from agentd.kernel.policy import (
    CONTAINER_WORKSPACE,
    argument_paths,
    argv_matches,
    check_command,
    check_denied_paths,
    check_path,
    load_policy,
    resolve_path,
    split_command,
)
from sandbox.plan import WORKSPACE

POLICY = load_policy()


@pytest.mark.parametrize(
    ("argv", "rule"),
    [
        (["go", "test", "./..."], "go-test"),
        (["go", "test", "-run", "TestX", "./cart"], "go-test"),
        (["timeout", "5", "go", "vet", "./..."], "go-vet"),
        (["env", "GOFLAGS=-count=1", "go", "test"], "go-test"),
        (["nice", "-n", "5", "go", "build", "./..."], "go-build"),
        (["ls", "-la"], "read-only-shell-tools"),
    ],
)
def test_allowed_commands_name_their_rule(argv: list[str], rule: str) -> None:
    """Allowlisted commands are allowed by the rule that matches them, wrappers looked through."""
    decision = check_command(POLICY, argv)
    assert decision.allowed
    assert decision.rule == rule


@pytest.mark.parametrize(
    ("argv", "rule"),
    [
        (["rm", "-rf", "/"], "not-allowlisted"),
        (["curl", "http://example.com"], "not-allowlisted"),
        (["timeout", "5", "rm", "-rf", "."], "not-allowlisted"),
        (["env", "A=1", "sh", "-c", "id"], "not-allowlisted"),
        (["go", "get", "example.com/x"], "no-module-downloads"),
        (["find", ".", "-name", "*.go", "-delete"], "no-find-actions"),
        (["./go", "test"], "command-path"),
        (["/tmp/evil", "x"], "command-path"),
        (["timeout", "5"], "wrapper-only"),
        ([], "empty-command"),
    ],
)
def test_refused_commands_name_their_rule(argv: list[str], rule: str) -> None:
    """Commands off the allowlist, on the denylist or behind wrappers are refused, naming the rule."""
    decision = check_command(POLICY, argv)
    assert not decision.allowed
    assert decision.rule == rule


def test_deny_rules_come_before_allow_rules() -> None:
    """A command both denied and allowed (`go env -w` vs nothing) is refused by the deny rule first."""
    assert check_command(POLICY, ["go", "env", "-w", "GOPROXY=x"]).rule == "no-go-env-write"


@pytest.mark.parametrize(
    "command",
    [
        "go test ./... ; rm -rf /",
        "go test && id",
        "go test | tee x",
        "echo `id`",
        "echo $(id)",
        "go test > out",
        "cat < /etc/passwd",
        "sleep 1 &",
        "echo ${HOME}",
        "go test\nid",
    ],
)
def test_string_commands_with_shell_operators_are_refused(command: str) -> None:
    """A command string holding a shell operator is refused before any rule is consulted."""
    with pytest.raises(ValueError, match="shell operator"):
        split_command(command)


def test_string_commands_split_like_a_shell_would() -> None:
    """A plain command string is split with shlex, quotes respected."""
    assert split_command("go test -run 'Test Total' ./cart") == ["go", "test", "-run", "Test Total", "./cart"]


def test_argv_pattern_semantics() -> None:
    """'*' matches one argument, '**' any number, 'a|b' either, globs inside an argument."""
    assert argv_matches(["go", "*"], ["go", "vet"])
    assert not argv_matches(["go", "*"], ["go", "vet", "./..."])
    assert argv_matches(["go", "**"], ["go"])
    assert argv_matches(["ls|cat", "**"], ["cat", "a", "b"])
    assert argv_matches(["find", "**", "-exec", "**"], ["find", ".", "-exec", "rm", "{}"])
    assert argv_matches(["go", "test", "-run=Test*"], ["go", "test", "-run=TestTotal"])


def test_role_limits_apply_on_top() -> None:
    """The judge may not run commands; critics read but do not write."""
    assert check_command(POLICY, ["go", "test"], role="judge").rule == "role:judge"
    assert check_path(POLICY, "cart/cart.go", write=True, role="critic").rule == "role:critic"
    assert check_path(POLICY, "cart/cart.go", write=False, role="critic").allowed


@pytest.mark.parametrize("path", [".git", ".git/config", "sub/.git/hooks/pre-commit", ".git/hooks/post-checkout"])
def test_git_metadata_is_always_refused(path: str) -> None:
    """`.git` anywhere in a path is refused, for reading and writing."""
    assert check_path(POLICY, path, write=False).rule == "git-metadata"


@pytest.mark.parametrize("path", [".env", "config/.env", "deploy/server.pem", "keys/id_rsa"])
def test_secret_looking_files_are_denied(path: str) -> None:
    """The default policy denies files that usually hold secrets."""
    assert not check_path(POLICY, path, write=False).allowed


def test_resolve_path_refuses_escapes(tmp_path: Path) -> None:
    """Absolute paths, `..` escapes and symlinks pointing outside the workspace are refused."""
    (tmp_path / "ws").mkdir()
    (tmp_path / "secret.txt").write_text("s")
    (tmp_path / "ws" / "link").symlink_to(tmp_path / "secret.txt")
    (tmp_path / "ws" / "inside.txt").write_text("i")
    (tmp_path / "ws" / "ok-link").symlink_to(tmp_path / "ws" / "inside.txt")
    workspace = tmp_path / "ws"
    for bad in ["/etc/passwd", "../secret.txt", "a/../../secret.txt", "link", ""]:
        with pytest.raises(ValueError, match=r"absolute|outside|empty"):
            resolve_path(workspace, bad)
    assert resolve_path(workspace, "ok-link")[1] == "inside.txt"


def test_corrupt_policy_file_is_a_config_error(tmp_path: Path) -> None:
    """A policy file with an unknown key or bad YAML is refused with the file and key named."""
    bad = tmp_path / "p.yaml"
    bad.write_text("commands:\n  alow: []\n")
    with pytest.raises(ConfigError, match=r"p.yaml: commands.alow"):
        load_policy(bad)
    bad.write_text("commands: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_policy(bad)


@pytest.mark.parametrize(
    ("argv", "judged"),
    [
        (["env", "--u", "ls", "sh", "-c", "id"], "sh"),  # --u is --unset, whose value is `ls`
        (["env", "--uns=ls", "sh"], "sh"),
        (["env", "-iu", "ls", "sh"], "sh"),
        (["env", "-uls", "sh"], "sh"),
        (["env", "--ignore-env", "A=1", "sh"], "sh"),
        (["env", "-", "sh"], "sh"),
        (["env", "--", "A=1", "sh"], "sh"),
        (["timeout", "--sig", "KILL", "5s", "sh"], "sh"),
        (["timeout", "-k5", "-sKILL", "1m", "sh"], "sh"),
        (["timeout", "--fore", "5", "sh"], "sh"),
        (["nice", "--10", "sh"], "sh"),
        (["nice", "-n", "ls", "sh"], "sh"),
        (["nice", "--adj", "5", "sh"], "sh"),
        (["stdbuf", "-oL", "--err", "0", "sh"], "sh"),
        (["ionice", "-c", "3", "--classd", "7", "sh"], "sh"),
        (["timeout", "5", "env", "--u", "x", "nice", "sh"], "sh"),
    ],
)
def test_wrappers_are_parsed_as_getopt_parses_them(argv: list[str], judged: str) -> None:
    """Options (abbreviated long ones, clusters, glued values, `--`) are stripped exactly, the real program judged."""
    decision = check_command(POLICY, argv)
    assert decision.rule == "not-allowlisted"
    assert decision.reason.startswith(f"'{judged}' ")


@pytest.mark.parametrize(
    "argv",
    [
        ["env", "--i", "ls"],  # ambiguous: --ignore-environment or --ignore-signal
        ["env", "--bogus", "ls"],
        ["env", "-x", "ls"],
        ["env", "-C", "..", "cat", "x"],
        ["env", "--ch=..", "cat", "x"],
        ["env", "-u"],
        ["timeout"],
        ["timeout", "-s"],
        ["nohup", "--x", "ls"],
    ],
)
def test_wrapper_options_agentd_cannot_parse_are_refused(argv: list[str]) -> None:
    """An unknown, ambiguous, valueless or disallowed wrapper option is refused instead of guessed at."""
    decision = check_command(POLICY, argv)
    assert not decision.allowed
    assert decision.rule == "wrapper-option"


def test_a_policy_may_name_only_wrappers_agentd_can_parse(tmp_path: Path) -> None:
    """A wrapper whose options agentd does not know is a configuration error, not a silent look-through."""
    bad = tmp_path / "p.yaml"
    bad.write_text("commands:\n  wrappers: [env, sudo]\n")
    with pytest.raises(ConfigError, match=r"commands.wrappers.*sudo"):
        load_policy(bad)


@pytest.mark.parametrize(
    "argv",
    [
        ["gofmt", "-w", "cart/cart.go"],
        ["gofmt", "-l", "-w=true", "."],
        ["sort", "-o", "out.txt", "in.txt"],
        ["sort", "-ro", "out.txt", "in.txt"],
        ["sort", "--out=out.txt", "in.txt"],
        ["sort", "--compress-program=sh", "in.txt"],
        ["go", "run", "./cmd"],
        ["go", "build", "./..."],
        ["go", "mod", "tidy"],
        ["go", "test", "-coverprofile=c.out", "./..."],
        ["go", "test", "-c", "./cart"],
        ["go", "test", "-fuzz=FuzzX", "./cart"],
        ["go", "test", "./cart", "-args", "-test.cpuprofile=x"],
        ["go", "test", "-exec", "sh", "./cart"],
        ["go", "vet", "-vettool=/bin/sh", "./..."],
        ["go", "list", "-mod=mod", "./..."],
        ["go", "tool", "pprof", "-output=x", "cpu.out"],
        ["uniq", "in.txt", "out.txt"],
        ["tree", "-o", "out.txt"],
        ["file", "-C", "-m", "magic"],
        ["psql", "-c", "DELETE FROM t"],
        ["env", "GOFLAGS=-o=x", "go", "test"],
    ],
)
def test_read_only_roles_are_offered_no_writer(argv: list[str]) -> None:
    """A role that may not write is refused commands and flags whose purpose is writing (a proposer may run them)."""
    assert check_command(POLICY, argv, role="proposer").allowed
    assert not check_command(POLICY, argv, role="critic").allowed


@pytest.mark.parametrize(
    "argv",
    [
        ["go", "test", "./..."],
        ["go", "test", "-run", "TestTotal", "-count=1", "-race", "./cart"],
        ["go", "test", "-bench=.", "-benchmem", "./cart"],
        ["go", "vet", "./..."],
        ["go", "list", "-json", "./..."],
        ["gofmt", "-l", "-d", "."],
        ["sort", "-r", "-k2", "in.txt"],
        ["grep", "-rn", "func", "."],
        ["tree", "-L", "2"],
        ["timeout", "30", "go", "test", "./..."],
    ],
)
def test_read_only_roles_keep_what_reviewing_needs(argv: list[str]) -> None:
    """Reading, testing and vetting stay allowed for a role that may not write."""
    decision = check_command(POLICY, argv, role="reviewer")
    assert decision.allowed, decision.reason


@pytest.mark.parametrize(
    ("argv", "cwd", "named"),
    [
        (["cat", ".env"], ".", ".env"),
        (["cat", "../.env"], "cart", ".env"),
        (["cat", "./cart/../.env"], ".", ".env"),
        (["cat", "/workspace/deploy/.env"], "cart", "deploy/.env"),
        (["grep", "-f.env", "x"], ".", ".env"),
        (["grep", "--file=keys/server.pem", "x"], ".", "keys/server.pem"),
        (["timeout", "5", "head", "id_rsa"], ".", "id_rsa"),
    ],
)
def test_arguments_naming_a_denied_path_are_found(argv: list[str], cwd: str, named: str) -> None:
    """A denied path named by an argument, however spelled, is found and refused by the deny glob."""
    assert named in argument_paths(argv[1:], cwd)
    refusal = check_denied_paths(POLICY, argument_paths(argv[1:], cwd))
    assert refusal is not None
    assert refusal.rule.startswith("paths.deny:")


def test_arguments_outside_the_workspace_or_harmless_are_not_refused() -> None:
    """Paths outside the workspace (the sandbox's own /etc) and ordinary files pass the deny globs."""
    assert check_denied_paths(POLICY, argument_paths(["/etc/passwd", "../../x", "cart/cart.go", "-n5"], "cart")) is None


def test_the_container_workspace_is_where_the_sandbox_mounts_it() -> None:
    """The policy's idea of the sandbox's workspace path is the sandbox's own."""
    assert CONTAINER_WORKSPACE == WORKSPACE
