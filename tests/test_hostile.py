"""The hostile-input wall: attacks on agentd's three tools, each made through a real Toolbox.

Every case calls `Toolbox.call` over a real Docker sandbox on a real git worktree, the real
`code` tool and a real `query_database` on a throwaway PostgreSQL, and asserts two things: the
attack was refused or contained, and nothing it could reach changed (files outside the workspace,
the worktree's `.git` pointer and the repository's git directory, the database's rows, relations,
roles, large objects and locks). Canary secrets sit in agentd's environment throughout; no tool
result, audit record, log line or stored row may ever carry one.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import secrets
import socket
import sqlite3
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import psycopg
import pytest
import structlog
from psycopg.conninfo import conninfo_to_dict

from agentd.demo import make_sample_repo
from agentd.kernel.events import TaskRequested
from agentd.kernel.policy import load_policy
from agentd.kernel.redact import MASK, Redactor
from agentd.kernel.seams import ToolResult
from agentd.service.logs import configure_logging
from agentd.store.sqlite import SQLiteStore
from sandbox.config import SandboxConfig
from sandbox.docker import MANAGED_LABEL, RUN_DIR_LABEL, DockerSandbox, DockerSandboxFactory
from tools.code import CodeTool
from tools.config import QueryDatabaseConfig
from tools.execute import ExecuteCommandTool
from tools.query import QueryDatabaseTool
from tools.registry import Toolbox

pytestmark = [pytest.mark.docker, pytest.mark.postgres]

ROLE = "proposer"
KEY_ENV, DSN_ENV, NOTE_ENV, TARGET_ENV = (
    "AGENTD_TEST_API_KEY",
    "AGENTD_TEST_DATABASE_URL",
    "AGENTD_HOSTILE_NOTE",  # a name the redactor does not treat as secret: only isolation keeps it in
    "AGENTD_HOSTILE_TARGET_DSN",
)
CANARY_KEY = f"sk-canary-{secrets.token_hex(16)}"
CANARY_PASSWORD = f"pw-canary-{secrets.token_hex(8)}"
CANARY_DSN = f"postgresql://app:{CANARY_PASSWORD}@db.internal.invalid:5432/prod"
CANARY_NOTE = f"note-canary-{secrets.token_hex(8)}"
HOST_SECRET = f"host-secret-{secrets.token_hex(8)}"  # the content of the files outside the workspace
HOST_SECRET_PATTERN = "host-secret-[0-9a-f]+"  # finds it without the call's arguments carrying it
MAX_TIMEOUT_S = 120.0
STATEMENT_TIMEOUT_MS = 1000
TABLE_ROWS = 100
SANDBOX_CONFIG = SandboxConfig(cpus=2.0)  # the defaults but two CPUs: Go builds and floods take less wall time
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "T",
    "GIT_AUTHOR_EMAIL": "t@x",
    "GIT_COMMITTER_NAME": "T",
    "GIT_COMMITTER_EMAIL": "t@x",
}

PROBE_GO = """// Command probe tries the ways out of a sandbox: environment, network, the worktree's git files.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	switch os.Args[1] {
	case "warm":
		fmt.Println("warm")
	case "environ":
		environ()
	case "tcp":
		report(dialTCP(os.Args[2]))
	case "udp":
		report(sendUDP(os.Args[2]))
	case "dns":
		report(lookup(os.Args[2]))
	case "git":
		rewriteGit()
	case "plant":
		plant(os.Args[2], os.Args[3])
	case "race":
		race(os.Args[2], os.Args[3])
	case "fifo":
		attempt("mkfifo", syscall.Mkfifo("hostile.fifo", 0o666))
	default:
		fmt.Println("unknown mode", os.Args[1])
		os.Exit(2)
	}
}

// report exits 3 when the way out was closed and prints CONNECTED when it was open.
func report(err error) {
	if err != nil {
		fmt.Println("blocked:", err)
		os.Exit(3)
	}
	fmt.Println("CONNECTED")
}

func dialTCP(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte("hello from the sandbox\\n"))
	return err
}

func sendUDP(addr string) error {
	conn, err := net.DialTimeout("udp", addr, 3*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("hello from the sandbox\\n")); err != nil {
		return err
	}
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	_, err = conn.Read(make([]byte, 64))
	return err
}

func lookup(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, name)
	if err == nil {
		fmt.Println("resolved:", addrs)
	}
	return err
}

func environ() {
	for _, kv := range os.Environ() {
		fmt.Println("env:", kv)
	}
	paths, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, path := range append(paths, "/proc/self/environ", "/proc/1/environ", "/proc/1/cmdline") {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Println("unreadable:", path, err)
			continue
		}
		fmt.Println(path+":", strings.ReplaceAll(string(data), "\\x00", " "))
	}
}

func attempt(what string, err error) {
	if err != nil {
		fmt.Printf("denied %s: %v\\n", what, err)
		return
	}
	fmt.Printf("DONE %s\\n", what)
}

func appendTo(path string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString("\\n[core]\\n\\thooksPath = /tmp\\n")
	return err
}

func rewriteGit() {
	pointer, err := os.ReadFile(".git")
	attempt("read pointer", err)
	attempt("write pointer", os.WriteFile(".git", []byte("gitdir: /tmp/evil\\n"), 0o644))
	attempt("append pointer", appendTo(".git"))
	attempt("chmod pointer", os.Chmod(".git", 0o777))
	attempt("rename pointer", os.Rename(".git", "git-moved"))
	attempt("remove pointer", os.Remove(".git"))
	attempt("hooks under pointer", os.MkdirAll(".git/hooks", 0o755))
	gitdir := strings.TrimSpace(strings.TrimPrefix(string(pointer), "gitdir:"))
	for _, hook := range []string{
		filepath.Join(gitdir, "hooks", "post-checkout"),
		filepath.Join(gitdir, "..", "..", "hooks", "pre-commit"),
	} {
		err := os.MkdirAll(filepath.Dir(hook), 0o755)
		if err == nil {
			err = os.WriteFile(hook, []byte("#!/bin/sh\\ntouch /tmp/pwned\\n"), 0o755)
		}
		attempt("plant hook "+hook, err)
	}
}

// race swaps the directory "race" and a symlink to dir with renameat2(RENAME_EXCHANGE) as fast as it can.
func race(dir, length string) {
	d, _ := time.ParseDuration(length)
	_ = os.Mkdir("race", 0o777)
	_ = os.Symlink(dir, "race_alt")
	a, _ := syscall.BytePtrFromString("race")
	b, _ := syscall.BytePtrFromString("race_alt")
	renameat2 := uintptr(316) // amd64
	if runtime.GOARCH == "arm64" {
		renameat2 = 276
	}
	const atFdcwd, renameExchange = ^uintptr(99), 2 // AT_FDCWD is -100
	swaps := 0
	for end := time.Now().Add(d); time.Now().Before(end); {
		_, _, errno := syscall.Syscall6(renameat2, atFdcwd, uintptr(unsafe.Pointer(a)), atFdcwd,
			uintptr(unsafe.Pointer(b)), renameExchange, 0)
		if errno == 0 {
			swaps++
		}
	}
	fmt.Println("swaps", swaps)
	_ = os.RemoveAll("race")
	_ = os.RemoveAll("race_alt")
}

func plant(dir, file string) {
	attempt("link evil_dir", os.Symlink(dir, "evil_dir"))
	attempt("link evil_file", os.Symlink(file, "evil_file"))
	attempt("link evil_up", os.Symlink("../"+filepath.Base(dir), "evil_up"))
}
"""

SLEEPER_GO = """// Command sleeper outlives its command: alone, with children in its group, or with ones that left it.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

const ready = "/tmp/agentd-hostile-ready"

func main() {
	mode := os.Args[1]
	switch mode {
	case "warm":
		fmt.Println("warm")
		return
	case "chain":
		escapeChain()
		return
	case "parent":
		slowParent(os.Args[2])
		return
	}
	for i := 0; i < 3 && mode != "alone"; i++ {
		child := exec.Command("sleep", "3000")
		if mode == "escape" {
			child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		}
		if err := child.Start(); err != nil {
			fmt.Println("start:", err)
			os.Exit(1)
		}
	}
	fmt.Println("sleeping")
	time.Sleep(time.Hour)
}

// escapeChain starts a chain of parents, each in a session of its own, then ends normally.
func escapeChain() {
	_ = os.Remove(ready)
	parent := exec.Command(os.Args[0], "parent", "4")
	parent.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := parent.Start(); err != nil {
		fmt.Println("start:", err)
		os.Exit(1)
	}
	for _, err := os.Stat(ready); err != nil; _, err = os.Stat(ready) {
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("left behind")
}

// slowParent holds 32 MiB, so that dying takes a while, and starts the next link in a session of its own.
func slowParent(depth string) {
	held := make([]byte, 32<<20)
	for i := 0; i < len(held); i += 4096 {
		held[i] = 1
	}
	child := exec.Command("sleep", "3004")
	if depth != "0" {
		child = exec.Command(os.Args[0], "parent", string(rune(depth[0]-1)))
	}
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	_ = child.Start()
	if depth == "0" {
		_ = os.WriteFile(ready, nil, 0o644)
	}
	time.Sleep(time.Hour)
	held[0] = 2
}
"""

FLOOD_GO = """// Command flood writes N bytes to stdout or stderr as fast as it can.
package main

import (
	"os"
	"strconv"
)

func main() {
	out := os.Stdout
	if os.Args[1] == "stderr" {
		out = os.Stderr
	}
	total, _ := strconv.ParseInt(os.Args[2], 10, 64)
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = 'x'
	}
	for total > 0 {
		n := int64(len(chunk))
		if total < n {
			n = total
		}
		if _, err := out.Write(chunk[:n]); err != nil {
			os.Exit(1)
		}
		total -= n
	}
}
"""

BOMB_GO = """// Command bomb spends what a sandbox limits: processes and memory.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"time"
)

func main() {
	switch os.Args[1] {
	case "warm":
		fmt.Println("warm")
	case "spawn":
		spawn()
	case "tree":
		tree()
	case "chunks":
		chunks()
	}
}

// spawn starts sleep children as fast as it can for three seconds, then says how far it got.
func spawn() {
	started, refused := 0, 0
	var first error
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		if err := exec.Command("sleep", "1000").Start(); err != nil {
			refused++
			if first == nil {
				first = err
			}
			continue
		}
		started++
	}
	fmt.Printf("started %d, refused %d: %v\\n", started, refused, first)
}

// tree is a fork bomb: every copy starts two more, forever.
func tree() {
	self, _ := os.Executable()
	for {
		for i := 0; i < 2; i++ {
			_ = exec.Command(self, "tree").Start()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// chunks allocates 4 GiB, 256 MiB at a time, touching every page.
func chunks() {
	var kept [][]byte
	for i := 0; i < 16; i++ {
		b := make([]byte, 256<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		kept = append(kept, b)
		fmt.Printf("%d MiB\\n", (i+1)*256)
	}
	fmt.Println("allocated", len(kept))
}
"""

SETUP_SQL = [
    "CREATE TABLE hostile_orders (id integer PRIMARY KEY, item text NOT NULL, qty integer NOT NULL)",
    f"INSERT INTO hostile_orders SELECT g, 'item-' || g, g % 7 FROM generate_series(1, {TABLE_ROWS}) AS g",
    "CREATE SEQUENCE hostile_seq",
    # volatile functions whose bodies the guard never sees: only the READ ONLY transaction stops them
    "CREATE FUNCTION hostile_insert() RETURNS int LANGUAGE plpgsql AS "
    "$$BEGIN INSERT INTO hostile_orders VALUES (9999, 'pwned', 1); RETURN 1; END$$",
    "CREATE FUNCTION hostile_delete() RETURNS SETOF int LANGUAGE sql AS $$DELETE FROM hostile_orders RETURNING id$$",
    "CREATE FUNCTION hostile_create_role() RETURNS int LANGUAGE plpgsql AS "
    "$$BEGIN CREATE ROLE hostile_evil SUPERUSER; RETURN 1; END$$",
    "CREATE FUNCTION hostile_lo() RETURNS oid LANGUAGE plpgsql AS $$BEGIN RETURN lo_create(424242); END$$",
    "CREATE FUNCTION hostile_read_write() RETURNS int LANGUAGE plpgsql AS "
    "$$BEGIN SET LOCAL transaction_read_only = off; INSERT INTO hostile_orders VALUES (9998, 'pwned', 1); "
    "RETURN 1; END$$",
    "CREATE FUNCTION hostile_commit() RETURNS int LANGUAGE plpgsql AS "
    "$$BEGIN COMMIT; INSERT INTO hostile_orders VALUES (9997, 'pwned', 1); RETURN 1; END$$",
    "CREATE FUNCTION hostile_drop() RETURNS int LANGUAGE plpgsql AS $$BEGIN DROP TABLE hostile_orders; RETURN 1; END$$",
    "CREATE FUNCTION hostile_nap() RETURNS int LANGUAGE plpgsql AS $$BEGIN PERFORM pg_sleep(30); RETURN 1; END$$",
]
TEARDOWN_SQL = [
    "DROP TABLE IF EXISTS hostile_orders CASCADE",
    "DROP SEQUENCE IF EXISTS hostile_seq",
    *(
        f"DROP FUNCTION IF EXISTS hostile_{name}()"
        for name in ("insert", "delete", "create_role", "lo", "read_write", "commit", "drop", "nap")
    ),
]
STATE_SQL = """
SELECT (SELECT count(*) FROM hostile_orders),
       (SELECT md5(string_agg(o::text, '|' ORDER BY o.id)) FROM hostile_orders AS o),
       (SELECT count(*) FROM pg_class),
       (SELECT string_agg(rolname || ':' || rolsuper, ',' ORDER BY rolname) FROM pg_roles),
       (SELECT coalesce(string_agg(oid::text, ',' ORDER BY oid), '') FROM pg_largeobject_metadata),
       (SELECT count(*) FROM pg_db_role_setting),
       (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory')
"""
STATE_FIELDS = ("rows", "contents", "relations", "roles", "large_objects", "role_settings", "advisory_locks")


# ---------------------------------------------------------------- the world the attacks run in


@dataclass(frozen=True)
class Host:
    """The host side: the repository whose worktrees are workspaces, and files no tool may reach."""

    root: Path
    origin: Path
    canary: Path
    gateway: str

    def outside(self, workspace: Path) -> tuple[Path, ...]:
        """Everything outside `workspace` an attack on it could touch."""
        return (self.canary, self.origin / ".git", workspace / ".git")


@dataclass
class Recorder:
    """What agentd writes about calls: the audit records, the store they go into, and the log."""

    redactor: Redactor
    store: SQLiteStore
    store_path: Path
    session_id: int
    log_path: Path
    secrets: list[str]
    audit: list[dict[str, Any]] = field(default_factory=list)

    def record(self, record: dict[str, Any]) -> None:
        """The toolbox's audit hook, wired as a job wires it: into the store."""
        self.audit.append(record)
        self.store.add_tool_call(self.session_id, record)

    def log_size(self) -> int:
        """How many bytes the daemon's log file holds."""
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        """What the daemon logged after `offset`."""
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode()

    def assert_clean(self, *texts: str) -> None:
        """No secret in any of the texts."""
        for text in texts:
            for secret in self.secrets:
                assert secret not in text, f"a secret leaked: {text[:300]!r}"


@dataclass
class Wall:
    """One toolbox over one sandbox and workspace, and what its cases may not change."""

    toolbox: Toolbox
    sandbox: DockerSandbox
    workspace: Path
    host: Host
    recorder: Recorder
    client: docker.DockerClient

    def outside(self) -> tuple[Path, ...]:
        """The paths outside this workspace its attacks could touch."""
        return self.host.outside(self.workspace)


@dataclass
class HostListener:
    """A TCP and a UDP socket on every host address; records anything that reaches them."""

    tcp: socket.socket
    udp: socket.socket
    seen: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def tcp_port(self) -> int:
        """The TCP port."""
        return int(self.tcp.getsockname()[1])

    @property
    def udp_port(self) -> int:
        """The UDP port."""
        return int(self.udp.getsockname()[1])

    def serve(self) -> None:
        """Accept and record until stopped."""
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn, peer = self.tcp.accept()
                self.seen.append(f"tcp {peer}")
                conn.close()
            with contextlib.suppress(TimeoutError, BlockingIOError):
                _data, peer = self.udp.recvfrom(512)
                self.seen.append(f"udp {peer}")


def run_git(cwd: Path, *args: str) -> str:
    """Run git as a user would."""
    env = {**os.environ, **GIT_IDENTITY}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def make_worktree(host: Host, name: str) -> Path:
    """A real worktree of the origin repository: the sample Go module with a `.git` pointer file."""
    workspace = host.root / name
    run_git(host.origin, "worktree", "add", "--quiet", "-b", name, str(workspace))
    assert (workspace / ".git").is_file()
    return workspace


def plant_links(workspace: Path, host: Host) -> None:
    """Symlinks an attacker would like in a workspace: to host files, host dirs, agentd's environ, .git."""
    (workspace / "ln_file").symlink_to(host.canary / "secret.txt")
    (workspace / "ln_dir").symlink_to(host.canary)
    (workspace / "cart" / "ln_rel").symlink_to(Path("..") / ".." / host.canary.name)
    (workspace / "ln_dangling").symlink_to(host.canary / "future.txt")
    (workspace / "ln_environ").symlink_to("/proc/self/environ")
    (workspace / "ln_git").symlink_to(".git")


def fingerprint(*roots: Path) -> dict[str, str]:
    """Every entry under the roots, symlinks not followed: a content hash, a link target, or 'dir'."""
    seen: dict[str, str] = {}

    def note(path: Path) -> None:
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            seen[str(path)] = "missing"
            return
        if stat.S_ISLNK(mode):
            seen[str(path)] = f"link:{path.readlink()}"
        elif stat.S_ISREG(mode):
            seen[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            seen[str(path)] = f"mode:{stat.S_IFMT(mode):o}"  # a directory, or a FIFO that must not be opened

    for root in roots:
        note(root)
        if root.is_dir() and not root.is_symlink():
            for directory, dirs, files in os.walk(root):
                for name in sorted(dirs + files):
                    note(Path(directory, name))
    return seen


@contextlib.contextmanager
def nothing_changes(wall: Wall, *, workspace: bool = True) -> Iterator[None]:
    """Assert that no file outside the workspace (and, unless told, inside it) changed in the block."""
    roots = wall.outside() + ((wall.workspace,) if workspace else ())
    before = fingerprint(*roots)
    yield
    assert fingerprint(*roots) == before


def database_state(admin_dsn: str) -> dict[str, Any]:
    """The target database as the cases may not change it."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        row = conn.execute(STATE_SQL).fetchone()
    assert row is not None
    return dict(zip(STATE_FIELDS, row, strict=True))


@contextlib.contextmanager
def database_unchanged(wall: Wall, admin_dsn: str) -> Iterator[None]:
    """Assert the database and the files outside the workspace are as before the block."""
    before = database_state(admin_dsn)
    with nothing_changes(wall):
        yield
    after = database_state(admin_dsn)
    deadline = time.monotonic() + 3.0
    while after != before and time.monotonic() < deadline:  # a closed session's locks go when its backend does
        time.sleep(0.05)
        after = database_state(admin_dsn)
    assert after == before


def call(wall: Wall, tool: str, **arguments: Any) -> ToolResult:
    """One tool call as a model makes it, logged as the daemon logs it; checks that nothing secret came out."""
    recorder = wall.recorder
    audited, logged = len(recorder.audit), recorder.log_size()
    result = wall.toolbox.call(ROLE, tool, json.dumps(arguments), agent="hostile", turn_seq=audited)
    log_call(tool, arguments, result)
    assert len(recorder.audit) == audited + 1
    assert recorder.audit[-1]["decision"] == result.decision
    recorder.assert_clean(json.dumps(result.output), json.dumps(recorder.audit[-1]), recorder.log_since(logged))
    return result


def log_call(tool: str, arguments: dict[str, Any], result: ToolResult) -> None:
    """Log a call and its result as the daemon would, through the redacting structlog set-up."""
    structlog.get_logger("agentd.hostile").info(
        "tool call",
        tool=tool,
        arguments=arguments,
        ok=result.ok,
        decision=result.decision,
        rule=result.rule,
        output=result.output,
    )


def run(wall: Wall, command: list[str] | str, **arguments: Any) -> ToolResult:
    """execute_command."""
    return call(wall, "execute_command", command=command, **arguments)


def query(wall: Wall, sql: str, **arguments: Any) -> ToolResult:
    """query_database."""
    return call(wall, "query_database", sql=sql, **arguments)


def assert_refused(result: ToolResult, rule: str) -> None:
    """The call was refused by `rule` before anything ran."""
    assert not result.ok
    assert result.decision == "refused", result.output
    assert result.rule == rule, result.output


def processes(wall: Wall) -> list[str]:
    """The command lines of every process in this wall's container, seen from the host."""
    top = wall.client.containers.get(wall.sandbox.container_id).top(ps_args="-eo pid,args")
    return [str(row[-1]) for row in top.get("Processes") or []]


def left_over(wall: Wall, words: tuple[str, ...], within_s: float = 3.0) -> list[str]:
    """Processes mentioning any of `words` still alive after waiting up to `within_s`."""
    deadline = time.monotonic() + within_s
    while True:
        left = [line for line in processes(wall) if any(word in line for word in words)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def assert_answers(wall: Wall) -> None:
    """The sandbox still runs commands, its runner is still PID 1, and its container still runs."""
    alive = run(wall, ["echo", "alive"])
    assert alive.ok, alive.output
    assert alive.output["stdout"] == "alive\n"
    assert "/opt/agentd/runner" in run(wall, ["cat", "/proc/1/cmdline"]).output["stdout"]
    assert wall.client.containers.get(wall.sandbox.container_id).status == "running"


def write_program(wall: Wall, package: str, source: str) -> None:
    """Write a Go program into the workspace through the code tool."""
    created = call(wall, "code", action="create", file_path=f"hostile/{package}/main.go", content=source)
    assert created.ok, created.output


def go_run(wall: Wall, package: str, *args: str, timeout_s: float = 60.0) -> ToolResult:
    """`go run` one of the hostile programs through execute_command."""
    return run(wall, ["go", "run", f"./hostile/{package}", *args], timeout_s=timeout_s)


def vm_kib(field_name: str) -> int:
    """A VmXXX line of this process's /proc status, in KiB."""
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith(field_name + ":")).split()[1])


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def canaries(postgres_dsn: str) -> Iterator[str]:
    """Secrets in agentd's environment before anything is built; yields the target database's DSN."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_ENV, CANARY_KEY)
        patch.setenv(DSN_ENV, CANARY_DSN)
        patch.setenv(NOTE_ENV, CANARY_NOTE)
        patch.setenv(TARGET_ENV, postgres_dsn)
        yield postgres_dsn


@pytest.fixture(scope="module")
def admin_dsn(canaries: str) -> Iterator[str]:
    """The target database with a table of rows and the hostile functions; the DSN of its owner."""
    with psycopg.connect(canaries, autocommit=True) as conn:
        for statement in TEARDOWN_SQL + SETUP_SQL:
            conn.execute(statement)
    yield canaries
    with psycopg.connect(canaries, autocommit=True) as conn:
        for statement in TEARDOWN_SQL:
            conn.execute(statement)


@pytest.fixture(scope="module")
def recorder(canaries: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorder]:
    """The redactor, log file and store, wired as the daemon wires them."""
    redactor = Redactor.from_environment([KEY_ENV, TARGET_ENV])
    state = tmp_path_factory.mktemp("state")
    log_path = state / "agentd.log"
    configure_logging(redactor, "json", log_file=log_path)
    store_path = state / "agentd.db"
    store = SQLiteStore(str(store_path))
    event = TaskRequested(repo="shop", description="hostile input", base_ref="main", request_id="hostile")
    task_id, _ = store.enqueue(event, "hostile input", None)
    session_id = store.start_session(task_id, "hostile", "wall")
    password = conninfo_to_dict(canaries)["password"]
    found = [CANARY_KEY, CANARY_PASSWORD, CANARY_DSN, CANARY_NOTE, HOST_SECRET, canaries, str(password)]
    try:
        yield Recorder(redactor, store, store_path, session_id, log_path, found)
    finally:
        store.close()
        configure_logging(redactor, "json")  # closes the log file this fixture opened
        structlog.reset_defaults()


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient) -> Host:
    """The origin repository, and a canary directory beside the workspaces holding the host's secrets."""
    root = tmp_path_factory.mktemp("hostile")
    origin = root / "origin"
    make_sample_repo(origin)
    canary = root / "canary"
    (canary / "inner").mkdir(parents=True)
    (canary / "secret.txt").write_text(f"{HOST_SECRET}\n")
    (canary / "inner" / "config.json").write_text(json.dumps({"token": HOST_SECRET}))
    bridge = docker_client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    gateway = bridge.get("Gateway") or str(next(ipaddress.ip_network(bridge["Subnet"]).hosts()))
    return Host(root, origin, canary, gateway)


@pytest.fixture(scope="module")
def factory(
    docker_client: docker.DockerClient, sandbox_image: str, host: Host, canaries: str
) -> Iterator[DockerSandboxFactory]:
    """A sandbox factory of its own; at the end none of its containers is left."""
    run_dir = (host.root / "run").absolute()
    yield DockerSandboxFactory(SANDBOX_CONFIG, run_dir, docker_client)
    containers = docker_client.containers.list(all=True, filters={"label": f"{MANAGED_LABEL}=1"})
    mine = [c.name for c in containers if Path(c.labels.get(RUN_DIR_LABEL, "/")).parent == run_dir]
    assert mine == []


@pytest.fixture(scope="module")
def query_tool(admin_dsn: str) -> QueryDatabaseTool:
    """query_database over the DSN in agentd's environment, with a short statement timeout."""
    config = QueryDatabaseConfig(dsn_env=TARGET_ENV, statement_timeout_ms=STATEMENT_TIMEOUT_MS)
    # the project's own functions allowed, as an operator would: what they do is then the transaction's to stop
    rules = load_policy().sql.model_copy(update={"allowed_functions": ["hostile_*"]})
    return QueryDatabaseTool(os.environ.get(TARGET_ENV), config, rules)


@contextlib.contextmanager
def open_wall(
    name: str,
    host: Host,
    factory: DockerSandboxFactory,
    recorder: Recorder,
    query_tool: QueryDatabaseTool,
    docker_client: docker.DockerClient,
) -> Iterator[Wall]:
    """A fresh worktree, a sandbox over it, and the toolbox a job would build on them."""
    workspace = make_worktree(host, name)
    if name == "job":
        plant_links(workspace, host)
    policy = load_policy()
    sandbox = factory.open(workspace, f"hostile-{name}")
    try:
        toolbox = Toolbox(
            CodeTool(workspace, policy),
            ExecuteCommandTool(sandbox, policy, MAX_TIMEOUT_S),
            query_tool,
            policy,
            recorder.redactor,
            recorder.record,
        )
        yield Wall(toolbox, sandbox, workspace, host, recorder, docker_client)
    finally:
        sandbox.close()


@pytest.fixture(scope="module")
def wall(
    host: Host,
    factory: DockerSandboxFactory,
    recorder: Recorder,
    query_tool: QueryDatabaseTool,
    docker_client: docker.DockerClient,
) -> Iterator[Wall]:
    """The shared wall: planted symlinks, the probe, sleeper and flood programs written and compiled."""
    with open_wall("job", host, factory, recorder, query_tool, docker_client) as shared:
        for package, source in (("probe", PROBE_GO), ("sleeper", SLEEPER_GO), ("flood", FLOOD_GO)):
            write_program(shared, package, source)
        built = run(shared, ["go", "build", "./hostile/..."], timeout_s=MAX_TIMEOUT_S)
        assert built.ok, built.output
        yield shared


@pytest.fixture
def lone_wall(
    request: pytest.FixtureRequest,
    host: Host,
    factory: DockerSandboxFactory,
    recorder: Recorder,
    query_tool: QueryDatabaseTool,
    docker_client: docker.DockerClient,
) -> Iterator[Wall]:
    """A wall of its own for a case that may wreck its sandbox, with the bomb and sleeper compiled."""
    name = "lone-" + "".join(c if c.isalnum() else "-" for c in request.node.name)[:40]
    with open_wall(name, host, factory, recorder, query_tool, docker_client) as lone:
        write_program(lone, "bomb", BOMB_GO)
        write_program(lone, "sleeper", SLEEPER_GO)
        built = run(lone, ["go", "build", "./hostile/..."], timeout_s=MAX_TIMEOUT_S)
        assert built.ok, built.output
        yield lone


@pytest.fixture(scope="module")
def listener() -> Iterator[HostListener]:
    """A host listener on every address; proven to notice a connection before the cases start."""
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp.bind(("0.0.0.0", 0))  # noqa: S104 - it must be reachable from the Docker bridge, were anything let out
    udp.bind(("0.0.0.0", 0))  # noqa: S104
    tcp.listen(16)
    tcp.settimeout(0.05)
    udp.settimeout(0.05)
    watcher = HostListener(tcp, udp)
    thread = threading.Thread(target=watcher.serve, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", watcher.tcp_port), timeout=2):
            pass
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.sendto(b"control", ("127.0.0.1", watcher.udp_port))
        deadline = time.monotonic() + 5
        while len(watcher.seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(watcher.seen) == 2, watcher.seen
        watcher.seen.clear()
        yield watcher
    finally:
        watcher.stop.set()
        thread.join()
        tcp.close()
        udp.close()


@pytest.fixture(scope="module")
def planted(wall: Wall) -> Wall:
    """The shared wall after a sandboxed program planted symlinks to the host's canary dir and file."""
    canary = wall.host.canary
    result = go_run(wall, "probe", "plant", str(canary), str(canary / "secret.txt"))
    assert result.ok, result.output
    assert result.output["stdout"].count("DONE link") == 3
    return wall


# ---------------------------------------------------------------- path traversal


def expand(arguments: dict[str, Any], host: Host) -> dict[str, Any]:
    """Put the host's canary dir into `{canary}` placeholders."""
    return {k: v.replace("{canary}", str(host.canary)) if isinstance(v, str) else v for k, v in arguments.items()}


TRAVERSALS = [
    pytest.param({"action": "read", "file_path": "../canary/secret.txt"}, id="read-dotdot"),
    pytest.param({"action": "read", "file_path": "../../../../../../../../etc/shadow"}, id="read-deep-dotdot-shadow"),
    pytest.param({"action": "read", "file_path": "a/../../canary/secret.txt"}, id="read-a-dotdot-dotdot"),
    pytest.param({"action": "read", "file_path": "a/b/c/../../../../canary/secret.txt"}, id="read-deep-a-b-c"),
    pytest.param(
        {"action": "update", "file_path": "cart/../../canary/secret.txt", "content": "pwned"}, id="update-via-cart"
    ),
    pytest.param(
        {"action": "replace", "file_path": "./../canary/secret.txt", "old_text": "host", "new_text": "pwned"},
        id="replace-dot-dotdot",
    ),
    pytest.param({"action": "create", "file_path": "../canary/pwned.txt", "content": "pwned"}, id="create-outside"),
    pytest.param({"action": "delete", "file_path": "../canary/secret.txt"}, id="delete-outside"),
    pytest.param({"action": "list", "file_path": ".."}, id="list-parent"),
    pytest.param({"action": "search", "file_path": "..", "pattern": HOST_SECRET_PATTERN}, id="search-parent"),
    pytest.param({"action": "read", "file_path": "cart/cart.go\x00/../../canary/secret.txt"}, id="read-nul-byte"),
]


@pytest.mark.parametrize("arguments", TRAVERSALS)
def test_traversal_is_refused(wall: Wall, arguments: dict[str, Any]) -> None:
    """A path climbing out of the workspace with '..' is refused and touches nothing."""
    with nothing_changes(wall):
        result = call(wall, "code", **arguments)
    assert_refused(result, "path-outside-workspace")


ENCODED = [
    pytest.param("..%2fcanary%2fsecret.txt", id="percent-encoded-slash"),
    pytest.param("%2e%2e/%2e%2e/canary/secret.txt", id="percent-encoded-dots"),
    pytest.param("..\\canary\\secret.txt", id="backslashes"),
    pytest.param("\u2025/canary/secret.txt", id="two-dot-leader"),
    pytest.param("\uff0e\uff0e/canary/secret.txt", id="fullwidth-dots"),
    pytest.param("....//canary/secret.txt", id="four-dots"),
    pytest.param("~/../canary/secret.txt", id="tilde"),
]


@pytest.mark.parametrize("file_path", ENCODED)
def test_encoded_looking_names_stay_inside(wall: Wall, file_path: str) -> None:
    """A name that only looks like '..' is a plain name inside the workspace: nothing outside is read."""
    with nothing_changes(wall):
        result = call(wall, "code", action="read", file_path=file_path)
    assert not result.ok
    assert result.decision == "failed"
    assert "no such file" in result.error_text()


def test_encoded_name_is_created_inside(wall: Wall) -> None:
    """Creating '..%2fcanary%2fpwned.txt' makes a file of that literal name inside the workspace only."""
    name = "..%2fcanary%2fpwned.txt"
    with nothing_changes(wall, workspace=False):
        created = call(wall, "code", action="create", file_path=name, content="contained\n")
    assert created.ok, created.output
    assert (wall.workspace / name).read_text() == "contained\n"
    assert not (wall.host.canary / "pwned.txt").exists()
    assert call(wall, "code", action="delete", file_path=name).ok


# ---------------------------------------------------------------- absolute paths

ABSOLUTES = [
    pytest.param({"action": "read", "file_path": "/etc/passwd"}, id="read-etc-passwd"),
    pytest.param({"action": "read", "file_path": "//etc//shadow"}, id="read-double-slash"),
    pytest.param({"action": "read", "file_path": "/proc/self/environ"}, id="read-agentd-environ"),
    pytest.param({"action": "read", "file_path": "{canary}/secret.txt"}, id="read-canary"),
    pytest.param({"action": "update", "file_path": "{canary}/secret.txt", "content": "pwned"}, id="update-canary"),
    pytest.param(
        {"action": "replace", "file_path": "{canary}/secret.txt", "old_text": "host", "new_text": "x"},
        id="replace-canary",
    ),
    pytest.param({"action": "create", "file_path": "{canary}/pwned.txt", "content": "pwned"}, id="create-canary"),
    pytest.param({"action": "delete", "file_path": "{canary}/secret.txt"}, id="delete-canary"),
    pytest.param({"action": "list", "file_path": "/"}, id="list-root"),
    pytest.param({"action": "search", "file_path": "{canary}", "pattern": HOST_SECRET_PATTERN}, id="search-canary"),
]


@pytest.mark.parametrize("arguments", ABSOLUTES)
def test_absolute_path_is_refused(wall: Wall, arguments: dict[str, Any]) -> None:
    """An absolute path is refused for every action, agentd's own environ included."""
    with nothing_changes(wall):
        result = call(wall, "code", **expand(arguments, wall.host))
    assert_refused(result, "path-outside-workspace")


@pytest.mark.parametrize("working_dir", ["/", "/etc", "..", "cart/../.."])
def test_working_dir_outside_is_refused(wall: Wall, working_dir: str) -> None:
    """A command's working directory outside the workspace is refused before the sandbox sees it."""
    with nothing_changes(wall):
        result = run(wall, ["ls"], working_dir=working_dir)
    assert_refused(result, "path-outside-workspace")


def test_host_paths_do_not_exist_in_the_sandbox(wall: Wall) -> None:
    """An allowed `cat` of the host canary's absolute path finds nothing: the host is not mounted."""
    with nothing_changes(wall):
        result = run(wall, ["cat", str(wall.host.canary / "secret.txt")])
    assert result.decision == "allowed"
    assert result.output["exit_code"] == 1
    assert "No such file" in result.output["stderr"]


def test_sandbox_root_is_not_the_host(wall: Wall) -> None:
    """`cat /etc/passwd` reads the image's file, which knows the sandbox user, not the host's."""
    with nothing_changes(wall):
        result = run(wall, ["cat", "/etc/passwd"])
    assert result.ok
    assert "sandbox:x:10001:10001" in result.output["stdout"]
    assert Path("/etc/passwd").read_text() != result.output["stdout"]


# ---------------------------------------------------------------- symlink escapes

LINK_REFUSALS = [
    pytest.param({"action": "read", "file_path": "ln_file"}, id="read-file-link"),
    pytest.param({"action": "update", "file_path": "ln_file", "content": "pwned"}, id="update-file-link"),
    pytest.param(
        {"action": "replace", "file_path": "ln_file", "old_text": "host", "new_text": "pwned"}, id="replace-file-link"
    ),
    pytest.param({"action": "delete", "file_path": "ln_file"}, id="delete-file-link"),
    pytest.param({"action": "create", "file_path": "ln_dangling", "content": "pwned"}, id="create-dangling-link"),
    pytest.param({"action": "create", "file_path": "ln_dir/pwned.txt", "content": "pwned"}, id="create-in-dir-link"),
    pytest.param({"action": "update", "file_path": "ln_dir/secret.txt", "content": "pwned"}, id="update-in-dir-link"),
    pytest.param({"action": "read", "file_path": "cart/ln_rel/secret.txt"}, id="read-relative-link"),
    pytest.param(
        {"action": "create", "file_path": "cart/ln_rel/inner/pwned.txt", "content": "pwned"}, id="create-relative-link"
    ),
    pytest.param({"action": "list", "file_path": "ln_dir"}, id="list-dir-link"),
    pytest.param({"action": "list", "file_path": "cart/ln_rel"}, id="list-relative-link"),
    pytest.param({"action": "search", "file_path": "ln_dir", "pattern": HOST_SECRET_PATTERN}, id="search-dir-link"),
    pytest.param({"action": "read", "file_path": "ln_environ"}, id="read-environ-link"),
]


@pytest.mark.parametrize("arguments", LINK_REFUSALS)
def test_symlink_out_of_the_workspace_is_refused(wall: Wall, arguments: dict[str, Any]) -> None:
    """A planted symlink to a host file or directory is refused for reading, writing, listing and searching."""
    with nothing_changes(wall):
        result = call(wall, "code", **arguments)
    assert_refused(result, "path-outside-workspace")


def test_listing_the_root_does_not_follow_links(wall: Wall) -> None:
    """Listing the workspace names the links but lists nothing behind them."""
    with nothing_changes(wall):
        result = call(wall, "code", action="list", file_path=".")
    assert result.ok
    files = result.output["files"]
    assert "ln_file" in files
    assert not [f for f in files if f.startswith(("ln_dir/", "cart/ln_rel/"))]
    assert not [f for f in files if f == ".git" or f.startswith(".git/")]


@pytest.mark.parametrize("directory", [".", "cart"])
def test_searching_does_not_follow_links(wall: Wall, directory: str) -> None:
    """A search of the workspace never reads a file through a symlink."""
    with nothing_changes(wall):
        result = call(wall, "code", action="search", file_path=directory, pattern=HOST_SECRET_PATTERN)
    assert result.ok
    assert result.output["matches"] == []


@pytest.mark.parametrize("working_dir", ["ln_dir", "cart/ln_rel", "evil_dir"])
def test_working_dir_through_a_link_is_refused(planted: Wall, working_dir: str) -> None:
    """A command's working directory through a symlink to the host is refused."""
    with nothing_changes(planted):
        result = run(planted, ["ls"], working_dir=working_dir)
    assert_refused(result, "path-outside-workspace")


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["cat", "ln_file"], id="cat-file-link"),
        pytest.param(["cat", "cart/ln_rel/secret.txt"], id="cat-relative-link"),
        pytest.param(["grep", "-R", "host-secret", "."], id="grep-following-links"),
        pytest.param(["ls", "ln_dir/"], id="ls-dir-link"),
    ],
)
def test_links_dangle_inside_the_sandbox(wall: Wall, command: list[str]) -> None:
    """Inside the sandbox a link to the host points at nothing: allowed commands read no host file."""
    with nothing_changes(wall):
        result = run(wall, command)
    assert result.decision == "allowed"
    assert result.output["exit_code"] != 0
    assert "host-secret" not in result.output["stdout"]


def test_environ_link_shows_only_the_sandbox(wall: Wall) -> None:
    """A link to /proc/self/environ read in the sandbox shows the command's own, clean environment."""
    with nothing_changes(wall):
        result = run(wall, ["cat", "ln_environ"])
    assert result.ok
    assert "GOPROXY=off" in result.output["stdout"]
    for name in (KEY_ENV, DSN_ENV, NOTE_ENV, TARGET_ENV, MASK):
        assert name not in result.output["stdout"]


PLANTED = [
    pytest.param({"action": "read", "file_path": "evil_file"}, id="read"),
    pytest.param({"action": "update", "file_path": "evil_file", "content": "pwned"}, id="update"),
    pytest.param({"action": "replace", "file_path": "evil_file", "old_text": "host", "new_text": "x"}, id="replace"),
    pytest.param({"action": "create", "file_path": "evil_dir/pwned.txt", "content": "pwned"}, id="create-in-dir"),
    pytest.param({"action": "read", "file_path": "evil_up/inner/config.json"}, id="read-relative"),
    pytest.param({"action": "list", "file_path": "evil_dir"}, id="list"),
    pytest.param({"action": "search", "file_path": "evil_up", "pattern": HOST_SECRET_PATTERN}, id="search"),
]


@pytest.mark.parametrize("arguments", PLANTED)
def test_links_planted_by_the_sandbox_are_refused(planted: Wall, arguments: dict[str, Any]) -> None:
    """Symlinks a sandboxed program made to the host's canary are refused when the code tool meets them."""
    with nothing_changes(planted):
        result = call(planted, "code", **arguments)
    assert_refused(result, "path-outside-workspace")


def test_swapping_a_directory_for_a_link_mid_call_leads_nowhere(planted: Wall) -> None:
    """A sandboxed program swapping a directory and a host symlink all the time never gets a code call out."""
    wall, canary = planted, planted.host.canary
    racer: dict[str, ToolResult] = {}
    command = {"command": ["go", "run", "./hostile/probe", "race", str(canary), "4s"], "timeout_s": 60}

    def race() -> None:
        racer["result"] = wall.toolbox.call(ROLE, "execute_command", json.dumps(command))

    results: list[tuple[dict[str, Any], ToolResult]] = []
    with nothing_changes(wall, workspace=False):
        thread = threading.Thread(target=race)
        thread.start()
        deadline = time.monotonic() + 30
        while not (wall.workspace / "race_alt").is_symlink() and time.monotonic() < deadline:
            time.sleep(0.01)
        end, attempt = time.monotonic() + 2.5, 0
        while time.monotonic() < end and thread.is_alive():
            attempt += 1
            for arguments in (
                {"action": "create", "file_path": f"race/pwned-{attempt}.txt", "content": "pwned"},
                {"action": "read", "file_path": "race/secret.txt"},
                {"action": "update", "file_path": "race/secret.txt", "content": "pwned"},
                {"action": "list", "file_path": "race"},
                {"action": "search", "file_path": "race", "pattern": HOST_SECRET_PATTERN},
            ):
                results.append((arguments, wall.toolbox.call(ROLE, "code", json.dumps(arguments))))
        thread.join()
    log_call("execute_command", command, racer["result"])
    for arguments, result in results:
        log_call("code", arguments, result)
    wall.recorder.assert_clean(*(json.dumps(r.output) for r in [racer["result"], *(r for _a, r in results)]))
    assert racer["result"].ok, racer["result"].output
    assert int(racer["result"].output["stdout"].split()[1]) > 1000
    landed = [r for a, r in results if a["action"] == "create" and r.ok]
    assert landed  # some creates met the real directory: the race was on
    for arguments, result in results:
        if arguments["action"] == "list" and result.ok:
            assert all(f.startswith("race/pwned-") for f in result.output["files"]), result.output
        if arguments["action"] == "search" and result.ok:
            assert result.output["matches"] == []
        if arguments["action"] in ("read", "update"):
            assert not result.ok
    assert sorted(p.name for p in canary.iterdir()) == ["inner", "secret.txt"]


@pytest.mark.parametrize(
    ("arguments", "ok"),
    [
        pytest.param({"action": "read", "file_path": "hostile.fifo"}, False, id="read"),
        pytest.param({"action": "update", "file_path": "hostile.fifo", "content": "x"}, False, id="update"),
        pytest.param(
            {"action": "replace", "file_path": "hostile.fifo", "old_text": "a", "new_text": "b"}, False, id="replace"
        ),
        pytest.param({"action": "search", "file_path": "hostile.fifo", "pattern": "x"}, True, id="search-it"),
        pytest.param({"action": "search", "file_path": ".", "pattern": "x"}, True, id="search-around-it"),
        pytest.param({"action": "list", "file_path": "."}, True, id="list-around-it"),
    ],
)
def test_a_planted_fifo_cannot_hang_the_code_tool(wall: Wall, arguments: dict[str, Any], ok: bool) -> None:
    """A FIFO a sandboxed program left in the workspace never blocks agentd: reads and writes refuse it."""
    if not (wall.workspace / "hostile.fifo").exists():
        planted_fifo = go_run(wall, "probe", "fifo")
        assert "DONE mkfifo" in planted_fifo.output["stdout"], planted_fifo.output
    done: list[ToolResult] = []
    with nothing_changes(wall):
        worker = threading.Thread(target=lambda: done.append(call(wall, "code", **arguments)), daemon=True)
        worker.start()
        worker.join(10)
    assert done, "the code tool hung on a FIFO"
    assert done[0].ok is ok, done[0].output


# ---------------------------------------------------------------- writes into .git

GIT_WRITES = [
    pytest.param({"action": "read", "file_path": ".git"}, id="read-pointer"),
    pytest.param({"action": "update", "file_path": ".git", "content": "gitdir: /tmp/evil\n"}, id="update-pointer"),
    pytest.param(
        {"action": "replace", "file_path": ".git", "old_text": "gitdir", "new_text": "gitdir: /x"}, id="replace-pointer"
    ),
    pytest.param({"action": "delete", "file_path": ".git"}, id="delete-pointer"),
    pytest.param(
        {"action": "create", "file_path": ".git/hooks/pre-commit", "content": "#!/bin/sh\nid\n"}, id="create-hook"
    ),
    pytest.param({"action": "create", "file_path": "sub/.git/config", "content": "[core]\n"}, id="nested-git-config"),
    pytest.param({"action": "update", "file_path": "cart/../.git", "content": "gitdir: /x\n"}, id="update-via-dotdot"),
    pytest.param({"action": "update", "file_path": "./.git", "content": "gitdir: /x\n"}, id="update-dot-slash"),
    pytest.param({"action": "update", "file_path": "ln_git", "content": "gitdir: /x\n"}, id="update-link-to-git"),
    pytest.param({"action": "list", "file_path": ".git"}, id="list-pointer"),
    pytest.param({"action": "search", "file_path": ".git", "pattern": "gitdir"}, id="search-pointer"),
]


@pytest.mark.parametrize("arguments", GIT_WRITES)
def test_git_metadata_is_refused(wall: Wall, arguments: dict[str, Any]) -> None:
    """Any path that is or goes through .git, however spelled, is refused by the git-metadata rule."""
    with nothing_changes(wall):
        result = call(wall, "code", **arguments)
    assert_refused(result, "git-metadata")


def test_commands_may_not_run_inside_git(wall: Wall) -> None:
    """A command with .git as its working directory is refused."""
    with nothing_changes(wall):
        result = run(wall, ["ls"], working_dir=".git")
    assert_refused(result, "git-metadata")


def test_find_cannot_write_the_pointer(wall: Wall) -> None:
    """`find -fprint .git` is a write, and the deny rule refuses it."""
    with nothing_changes(wall):
        result = run(wall, ["find", ".", "-fprint", ".git"])
    assert_refused(result, "no-find-actions")


def test_allowed_writer_cannot_write_the_pointer(wall: Wall) -> None:
    """`sort -o .git` passes the policy but the pointer is mounted read-only, so the write fails."""
    with nothing_changes(wall):
        result = run(wall, ["sort", "-o", ".git", "go.mod"])
    assert result.decision == "allowed"
    assert result.output["exit_code"] != 0
    assert "Read-only file system" in result.output["stderr"]


def test_program_cannot_rewrite_git(wall: Wall) -> None:
    """A Go program cannot rewrite, move or drop the pointer, and hooks it plants never reach the host repo."""
    with nothing_changes(wall):
        result = go_run(wall, "probe", "git")
    assert result.ok, result.output
    out = result.output["stdout"]
    assert "DONE read pointer" in out
    for what in ("write", "append", "chmod", "rename", "remove"):
        assert f"denied {what} pointer" in out
    assert "denied hooks under pointer" in out


# ---------------------------------------------------------------- shell syntax

SHELL_STRINGS = [
    pytest.param("ls; sh -c id", id="semicolon"),
    pytest.param("go version && sh", id="and"),
    pytest.param("false || sh", id="or"),
    pytest.param("ls | sh", id="pipe"),
    pytest.param("echo `id`", id="backticks"),
    pytest.param("echo $(touch pwned)", id="dollar-paren"),
    pytest.param("echo pwned > pwned", id="redirect-out"),
    pytest.param("cat < /etc/shadow", id="redirect-in"),
    pytest.param("sleep 100 &", id="background"),
    pytest.param("ls\ntouch pwned", id="newline"),
    pytest.param("echo ${HOME}", id="brace-expansion"),
]


@pytest.mark.parametrize("command", SHELL_STRINGS)
def test_shell_operators_are_refused(wall: Wall, command: str) -> None:
    """A command string holding a shell operator is refused before anything runs."""
    with nothing_changes(wall):
        result = run(wall, command)
    assert_refused(result, "shell-syntax")


# ---------------------------------------------------------------- commands off the allowlist

OFF_LIST = [
    pytest.param(["sh", "-c", "touch pwned"], "not-allowlisted", id="sh-c"),
    pytest.param("sh -c 'touch pwned'", "not-allowlisted", id="sh-c-string"),
    pytest.param(["bash"], "not-allowlisted", id="bash"),
    pytest.param(["/bin/sh", "-c", "touch pwned"], "command-path", id="sh-by-path"),
    pytest.param(["./go"], "command-path", id="relative-program"),
    pytest.param(["curl", "http://example.com"], "not-allowlisted", id="curl"),
    pytest.param(["python3", "-c", "open('pwned','w')"], "not-allowlisted", id="python3"),
    pytest.param(["rm", "-rf", "/workspace"], "not-allowlisted", id="rm-rf"),
    pytest.param(["git", "config", "core.hooksPath", "/tmp"], "not-allowlisted", id="git-config"),
    pytest.param(["env", "sh", "-c", "touch pwned"], "not-allowlisted", id="env-sh"),
    pytest.param(["timeout", "5", "sh", "-c", "touch pwned"], "not-allowlisted", id="timeout-sh"),
    pytest.param(["nice", "sh", "-c", "touch pwned"], "not-allowlisted", id="nice-sh"),
    pytest.param(["nice", "-n", "5", "bash", "-c", "touch pwned"], "not-allowlisted", id="nice-n-bash"),
    pytest.param(["nohup", "sh", "-c", "touch pwned"], "not-allowlisted", id="nohup-sh"),
    pytest.param(["env", "-u", "ls", "sh", "-c", "touch pwned"], "not-allowlisted", id="env-unset-value-hides-sh"),
    pytest.param(["env", "-iu", "ls", "sh", "-c", "touch pwned"], "not-allowlisted", id="env-cluster-hides-sh"),
    pytest.param(["env", "-Ssh -c 'touch pwned'", "ls"], "not-allowlisted", id="env-split-string"),
    pytest.param(["timeout", "-s", "ls", "5", "sh"], "not-allowlisted", id="timeout-signal-value-hides-sh"),
    pytest.param(["env"], "wrapper-only", id="bare-env"),
    pytest.param(["go", "env", "-w", "GOFLAGS=-toolexec=sh"], "no-go-env-write", id="go-env-w"),
    pytest.param(["env", "go", "env", "-w", "GOPROXY=direct"], "no-go-env-write", id="env-go-env-w"),
    pytest.param(["go", "get", "example.com/evil"], "no-module-downloads", id="go-get"),
    pytest.param(["find", ".", "-exec", "sh", "-c", "touch pwned", ";"], "no-find-actions", id="find-exec"),
    pytest.param(["find", ".", "-delete"], "no-find-actions", id="find-delete"),
]


@pytest.mark.parametrize(("command", "rule"), OFF_LIST)
def test_command_off_the_allowlist_is_refused(wall: Wall, command: list[str] | str, rule: str) -> None:
    """A command the policy does not allow, bare or behind a wrapper and its options, is refused by name."""
    with nothing_changes(wall):
        result = run(wall, command)
    assert_refused(result, rule)
    assert not (wall.workspace / "pwned").exists()


# ---------------------------------------------------------------- agentd's environment


def assert_no_agentd_environment(text: str) -> None:
    """No name or value of agentd's own variables, and no sign one was masked, in `text`."""
    for needle in (KEY_ENV, DSN_ENV, NOTE_ENV, TARGET_ENV, CANARY_KEY, CANARY_DSN, CANARY_NOTE, MASK):
        assert needle not in text


@pytest.mark.parametrize(
    ("command", "rule"),
    [(["env"], "wrapper-only"), (["printenv"], "not-allowlisted"), (["env", "-0"], "wrapper-only")],
)
def test_environment_dumpers_are_refused(wall: Wall, command: list[str], rule: str) -> None:
    """`env` and `printenv` are not commands an agent may run."""
    with nothing_changes(wall):
        result = run(wall, command)
    assert_refused(result, rule)


@pytest.mark.parametrize("path", ["/proc/1/environ", "/proc/self/environ"])
def test_proc_environ_holds_only_the_sandbox_environment(wall: Wall, path: str) -> None:
    """Reading /proc/N/environ with an allowed `cat` shows the sandbox's fixed environment, none of agentd's."""
    with nothing_changes(wall):
        result = run(wall, ["cat", path])
    if path == "/proc/1/environ":  # the runner is non-dumpable: nothing of it can be read at all
        assert result.output["exit_code"] != 0, result.output
        assert result.output["stdout"] == ""
        return
    assert result.ok, result.output
    assert "HOME=/home/sandbox" in result.output["stdout"]
    assert_no_agentd_environment(result.output["stdout"])


def test_variables_are_not_expanded(wall: Wall) -> None:
    """`echo $AGENTD_TEST_API_KEY` prints the words as given: there is no shell to expand them."""
    with nothing_changes(wall):
        result = run(wall, f"echo ${KEY_ENV}")
    assert result.ok
    assert result.output["stdout"] == f"${KEY_ENV}\n"


def test_go_program_sees_no_agentd_environment(wall: Wall) -> None:
    """A Go program printing os.Environ() and every readable /proc/*/environ finds no agentd variable."""
    with nothing_changes(wall):
        result = go_run(wall, "probe", "environ")
    assert result.ok, result.output
    out = result.output["stdout"]
    assert "env: GOPROXY=off" in out
    assert "/proc/1/environ:" in out
    assert_no_agentd_environment(out)


# ---------------------------------------------------------------- network egress


def egress_targets(host: Host, listener: HostListener) -> list[tuple[str, str]]:
    """(probe mode, address) pairs that would reach the host listener were the network open."""
    return [
        ("tcp", f"127.0.0.1:{listener.tcp_port}"),
        ("tcp", f"{host.gateway}:{listener.tcp_port}"),
        ("tcp", f"host.docker.internal:{listener.tcp_port}"),
        ("udp", f"{host.gateway}:{listener.udp_port}"),
        ("udp", f"127.0.0.1:{listener.udp_port}"),
        ("tcp", "1.1.1.1:443"),
        ("dns", "example.com"),
    ]


@pytest.mark.parametrize(
    "target", range(7), ids=["loopback", "gateway", "docker-host", "udp-gw", "udp-lo", "ip", "dns"]
)
def test_network_egress_fails(wall: Wall, listener: HostListener, target: int) -> None:
    """A Go program dialling the host (loopback, bridge gateway), the internet or DNS fails; the host hears nothing."""
    mode, address = egress_targets(wall.host, listener)[target]
    with nothing_changes(wall):
        result = go_run(wall, "probe", mode, address)
    assert result.output["exit_code"] == 1, result.output  # go run's way of passing on the program's exit 3
    assert "exit status 3" in result.output["stderr"]
    assert "blocked:" in result.output["stdout"]
    assert "CONNECTED" not in result.output["stdout"]
    time.sleep(0.1)
    assert listener.seen == []


def test_psql_cannot_reach_the_host(wall: Wall, listener: HostListener) -> None:
    """The allowed `psql` cannot connect to a host port through the bridge gateway."""
    with nothing_changes(wall):
        result = run(wall, ["psql", "-w", "-h", wall.host.gateway, "-p", str(listener.tcp_port), "-c", "SELECT 1"])
    assert result.decision == "allowed"
    assert result.output["exit_code"] != 0
    assert "could not connect" in result.output["stderr"] or "unreachable" in result.output["stderr"]
    assert listener.seen == []


# ---------------------------------------------------------------- processes, memory, time, output


def test_spawning_children_hits_the_pids_limit(lone_wall: Wall) -> None:
    """A program starting `sleep` children in a loop is stopped by the pids limit; they die with it."""
    with nothing_changes(lone_wall):
        result = go_run(lone_wall, "bomb", "spawn", timeout_s=30)
    # the limit answers EAGAIN: to the fork, or to the Go runtime wanting one more thread, which then aborts
    out = result.output["stdout"] + result.output["stderr"]
    assert "resource temporarily unavailable" in out or "errno=11" in out, result.output
    assert not result.output["timed_out"]
    assert left_over(lone_wall, ("sleep 1000",)) == []
    assert_answers(lone_wall)


def test_fork_bomb_is_contained(lone_wall: Wall) -> None:
    """A self-replicating fork bomb is held by the pids limit, killed at its deadline, and leaves nothing."""
    started = time.monotonic()
    with nothing_changes(lone_wall):
        result = go_run(lone_wall, "bomb", "tree", timeout_s=3)
    assert result.output["timed_out"] or result.output["exit_code"] != 0, result.output
    assert time.monotonic() - started < 20
    assert left_over(lone_wall, ("bomb tree", "exe/bomb")) == []
    assert subprocess.run(["true"], check=False).returncode == 0  # the host still forks
    assert_answers(lone_wall)


def test_memory_hog_is_killed(lone_wall: Wall) -> None:
    """A program touching 4 GiB is killed by the 2 GiB memory limit; the sandbox answers afterwards."""
    with nothing_changes(lone_wall):
        result = go_run(lone_wall, "bomb", "chunks", timeout_s=60)
    assert not result.ok
    assert not result.output["timed_out"]
    assert "allocated" not in result.output["stdout"]
    assert "signal: killed" in result.output["stderr"]
    assert_answers(lone_wall)


@pytest.mark.parametrize("mode", ["alone", "kids"])
def test_sleeper_is_killed_at_its_deadline(wall: Wall, mode: str) -> None:
    """`go run` of a sleeper with timeout_s 1 comes back timed out in about a second, its processes gone."""
    slept = False
    for _attempt in range(4):  # on a loaded machine `go run` may still be linking when the second is up
        started = time.monotonic()
        with nothing_changes(wall):
            result = go_run(wall, "sleeper", mode, timeout_s=1)
        assert result.output["timed_out"], result.output
        assert not result.ok
        assert time.monotonic() - started < 4
        assert left_over(wall, ("exe/sleeper", "sleep 3000")) == []
        slept = "sleeping" in result.output["stdout"]
        if slept:
            break
    assert slept  # the sleeper itself, not just the build, was running when the deadline hit
    assert_answers(wall)


def test_setsid_child_dies_at_the_deadline(lone_wall: Wall) -> None:
    """A child that left the process group with setsid() is gone once its command timed out."""
    with nothing_changes(lone_wall):
        result = go_run(lone_wall, "sleeper", "escape", timeout_s=2)
    assert result.output["timed_out"], result.output
    assert "sleeping" in result.output["stdout"]
    assert left_over(lone_wall, ("exe/sleeper", "sleep 3000"), within_s=1.0) == []  # before any other command
    assert_answers(lone_wall)


def test_chain_of_sessions_dies_with_the_command(lone_wall: Wall) -> None:
    """Processes that each start the next in a session of their own are all gone once the command has ended."""
    with nothing_changes(lone_wall):
        result = go_run(lone_wall, "sleeper", "chain", timeout_s=60)
    assert result.ok, result.output
    assert "left behind" in result.output["stdout"]
    # checked before any other command: the end of the next one sweeps the survivor up
    assert left_over(lone_wall, ("exe/sleeper", "sleep 3004"), within_s=1.0) == []
    assert_answers(lone_wall)


def test_deadline_cannot_be_raised_by_the_model(
    host: Host, recorder: Recorder, query_tool: QueryDatabaseTool, docker_client: docker.DockerClient, wall: Wall
) -> None:
    """A timeout_s far above the tool's limit is cut to that limit."""
    policy = load_policy()
    capped = Wall(
        Toolbox(
            CodeTool(wall.workspace, policy),
            ExecuteCommandTool(wall.sandbox, policy, 2.0),
            query_tool,
            policy,
            recorder.redactor,
            recorder.record,
        ),
        wall.sandbox,
        wall.workspace,
        host,
        recorder,
        docker_client,
    )
    started = time.monotonic()
    with nothing_changes(capped):
        result = go_run(capped, "sleeper", "alone", timeout_s=86_400)
    assert result.output["timed_out"], result.output
    assert time.monotonic() - started < 6
    assert left_over(capped, ("exe/sleeper",)) == []


@pytest.mark.parametrize(("stream", "total"), [("stdout", 2_000_000_000), ("stderr", 300_000_000)])
def test_gigabytes_of_output_are_capped(wall: Wall, stream: str, total: int) -> None:
    """A flood of output comes back capped with the marker, quickly, and agentd's memory stays small."""
    limit = SANDBOX_CONFIG.output_limit
    Path("/proc/self/clear_refs").write_text("5")  # reset this process's peak resident size (VmHWM)
    resident_before = vm_kib("VmRSS")
    started = time.monotonic()
    with nothing_changes(wall):
        result = go_run(wall, "flood", stream, str(total), timeout_s=90)
    elapsed = time.monotonic() - started
    assert result.ok, {k: v for k, v in result.output.items() if k not in ("stdout", "stderr")}
    assert result.output["truncated"]
    text = result.output[stream]
    assert f"\n[agentd: {total - limit} bytes cut]\n" in text
    assert len(text) <= limit + 64
    assert elapsed < 20  # about a second and a half unloaded
    # agentd's own share (answer, redaction, audit, log) stays small: the redactor once spent 10 s on 64 KB of x
    assert elapsed - result.output["duration_ms"] / 1000 < 3
    assert vm_kib("VmHWM") - resident_before < 64 * 1024


# ---------------------------------------------------------------- SQL through query_database

GUARD_REFUSALS = [
    pytest.param("COMMIT; DROP TABLE hostile_orders", "sql:one-statement", id="commit-then-drop"),
    pytest.param("/* a read */ -- honest\nDROP TABLE hostile_orders", "sql:statement-kind", id="comments-then-drop"),
    pytest.param("SELECT 1; DELETE FROM hostile_orders", "sql:one-statement", id="select-then-delete"),
    pytest.param("SELECT 1;;; UPDATE hostile_orders SET qty = 0", "sql:one-statement", id="empty-statements"),
    pytest.param("-- SELECT 1", "sql:one-statement", id="only-a-comment"),
    pytest.param("SELECT 1 \\; DROP TABLE hostile_orders", "sql:parse-error", id="psql-backslash-semicolon"),
    pytest.param(
        "WITH gone AS (DELETE FROM hostile_orders RETURNING *) SELECT count(*) FROM gone",
        "sql:dml-in-cte",
        id="delete-in-cte",
    ),
    pytest.param(
        "SELECT * FROM (WITH x AS (UPDATE hostile_orders SET qty = 0 RETURNING id) SELECT id FROM x) AS s",
        "sql:dml-in-cte",
        id="update-in-nested-cte",
    ),
    pytest.param(
        "WITH a AS (SELECT 1) INSERT INTO hostile_orders SELECT 1000, 'x', 1 FROM a",
        "sql:statement-kind",
        id="cte-then-insert",
    ),
    pytest.param("EXPLAIN ANALYZE DELETE FROM hostile_orders", "sql:explain-target", id="explain-analyze-delete"),
    pytest.param(
        "EXPLAIN (ANALYZE, BUFFERS) UPDATE hostile_orders SET qty = 0", "sql:explain-target", id="explain-update"
    ),
    pytest.param(
        "EXPLAIN ANALYZE WITH g AS (DELETE FROM hostile_orders RETURNING 1) SELECT * FROM g",
        "sql:dml-in-cte",
        id="explain-analyze-cte-delete",
    ),
    pytest.param("SELECT lo_create(0)", "sql:denied-function:lo_create", id="lo-create"),
    pytest.param("SELECT pg_catalog.lo_create(424242)", "sql:denied-function:lo_create", id="lo-create-qualified"),
    pytest.param(
        "SELECT * FROM hostile_orders WHERE id = (SELECT lo_from_bytea(0, 'x')::int)",
        "sql:denied-function:lo_from_bytea",
        id="lo-in-subquery",
    ),
    pytest.param("SELECT lo_import('/etc/passwd')", "sql:denied-function:lo_import", id="lo-import"),
    pytest.param("COPY hostile_orders TO PROGRAM 'touch {canary}/copied'", "sql:statement-kind", id="copy-to-program"),
    pytest.param("COPY (SELECT 1) TO '{canary}/copied.csv'", "sql:statement-kind", id="copy-to-file"),
    pytest.param("COPY hostile_orders FROM PROGRAM 'id'", "sql:statement-kind", id="copy-from-program"),
    pytest.param(
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        "sql:denied-function:set_config",
        id="set-config",
    ),
    pytest.param(
        "SELECT s FROM hostile_orders, LATERAL set_config('role', 'postgres', true) AS s",
        "sql:denied-function:set_config",
        id="set-config-lateral",
    ),
    pytest.param("SELECT * FROM hostile_orders FOR UPDATE", "sql:locking-clause", id="for-update"),
    pytest.param("SELECT * FROM (SELECT * FROM hostile_orders FOR SHARE) AS s", "sql:locking-clause", id="for-share"),
    pytest.param("SELECT pg_sleep(30)", "sql:denied-function:pg_sleep", id="pg-sleep"),
    pytest.param("SELECT * FROM PG_CATALOG.Pg_Sleep(30)", "sql:denied-function:pg_sleep", id="pg-sleep-spelled"),
    pytest.param('SELECT U&"pg\\005fsleep"(30)', "sql:denied-function:pg_sleep", id="pg-sleep-unicode-escape"),
    pytest.param("SELECT pg_sleep_for('30 seconds')", "sql:denied-function:pg_sleep_for", id="pg-sleep-for"),
    pytest.param("SELECT pg_read_file('/etc/passwd')", "sql:denied-function:pg_read_file", id="read-file"),
    pytest.param("SELECT nextval('hostile_seq')", "sql:denied-function:nextval", id="nextval"),
    pytest.param("CREATE TABLE hostile_new (a int)", "sql:statement-kind", id="create-table"),
    pytest.param("DROP TABLE hostile_orders", "sql:statement-kind", id="drop-table"),
    pytest.param("TRUNCATE hostile_orders", "sql:statement-kind", id="truncate"),
    pytest.param("ALTER TABLE hostile_orders ADD COLUMN pwned int", "sql:statement-kind", id="alter-table"),
    pytest.param("CREATE ROLE hostile_evil LOGIN PASSWORD 'x'", "sql:statement-kind", id="create-role"),
    pytest.param("GRANT ALL ON hostile_orders TO PUBLIC", "sql:statement-kind", id="grant"),
    pytest.param(
        "CREATE FUNCTION hostile_new() RETURNS int LANGUAGE sql AS 'SELECT 1'", "sql:statement-kind", id="create-func"
    ),
    pytest.param("SELECT * INTO hostile_copy FROM hostile_orders", "sql:select-into", id="select-into"),
    pytest.param("DO $$BEGIN DELETE FROM hostile_orders; END$$", "sql:statement-kind", id="do-block"),
    pytest.param("SET ROLE postgres", "sql:statement-kind", id="set-role"),
    pytest.param("SET SESSION AUTHORIZATION postgres", "sql:statement-kind", id="set-session-authorization"),
    pytest.param("RESET ROLE", "sql:statement-kind", id="reset-role"),
    pytest.param("SET default_transaction_read_only = off", "sql:statement-kind", id="set-read-write"),
    pytest.param("BEGIN READ WRITE", "sql:statement-kind", id="begin-read-write"),
    pytest.param("PREPARE p AS DELETE FROM hostile_orders", "sql:statement-kind", id="prepare-delete"),
    pytest.param("VACUUM FULL hostile_orders", "sql:statement-kind", id="vacuum"),
    pytest.param("LOCK TABLE hostile_orders IN ACCESS EXCLUSIVE MODE", "sql:statement-kind", id="lock-table"),
]


@pytest.mark.parametrize(("sql", "rule"), GUARD_REFUSALS)
def test_sql_guard_refuses(wall: Wall, admin_dsn: str, sql: str, rule: str) -> None:
    """The SQL guard refuses writes, DDL, several statements, denied functions and session changes; nothing changes."""
    with database_unchanged(wall, admin_dsn):
        result = query(wall, sql.replace("{canary}", str(wall.host.canary)))
    assert_refused(result, rule)


@pytest.mark.parametrize(
    ("sql", "explain", "rule"),
    [
        pytest.param("DELETE FROM hostile_orders", "analyze", "sql:statement-kind", id="analyze-a-delete"),
        pytest.param("SELECT 1; DROP TABLE hostile_orders", "plan", "sql:one-statement", id="plan-two-statements"),
        pytest.param("SHOW search_path", "analyze", "sql:explain-target", id="analyze-a-show"),
    ],
)
def test_explain_option_cannot_carry_a_write(wall: Wall, admin_dsn: str, sql: str, explain: str, rule: str) -> None:
    """The explain option only ever wraps a single SELECT."""
    with database_unchanged(wall, admin_dsn):
        result = query(wall, sql, explain=explain)
    assert_refused(result, rule)


READ_ONLY_STOPS = [
    pytest.param("SELECT hostile_insert()", "none", "25006", id="insert-in-function"),
    pytest.param("SELECT * FROM hostile_delete()", "none", "25006", id="delete-in-sql-function"),
    pytest.param("SELECT hostile_create_role()", "none", "25006", id="create-role-in-function"),
    pytest.param("SELECT hostile_read_write()", "none", "25001", id="read-write-in-function"),
    pytest.param("SELECT hostile_drop()", "none", "25006", id="drop-in-function"),
    pytest.param("SELECT hostile_commit()", "none", "2D000", id="commit-in-function"),
    pytest.param("SELECT hostile_insert()", "analyze", "25006", id="explain-analyze-option"),
    pytest.param("EXPLAIN ANALYZE SELECT hostile_insert()", "none", "25006", id="explain-analyze-statement"),
    pytest.param("SELECT hostile_nap()", "none", "57014", id="sleep-in-function"),
    pytest.param("SELECT count(*) FROM generate_series(1, 100000000000)", "none", "57014", id="cpu-burner"),
]


@pytest.mark.parametrize(("sql", "explain", "sqlstate"), READ_ONLY_STOPS)
def test_what_the_guard_cannot_see_is_stopped(
    wall: Wall, admin_dsn: str, sql: str, explain: str, sqlstate: str
) -> None:
    """A write, role, large object, COMMIT or sleep hidden in a function is stopped by READ ONLY or the timeout."""
    started = time.monotonic()
    with database_unchanged(wall, admin_dsn):
        result = query(wall, sql, explain=explain)
    assert not result.ok
    assert result.decision == "failed", result.output
    assert result.output.get("sqlstate") == sqlstate, result.output
    assert time.monotonic() - started < STATEMENT_TIMEOUT_MS / 1000 + 5


@pytest.mark.parametrize(
    ("sql", "params", "rows"),
    [
        pytest.param(
            "SELECT count(*) AS n FROM hostile_orders WHERE item = %s",
            ["x'; DROP TABLE hostile_orders; --"],
            [[0]],
            id="injection-in-a-parameter",
        ),
        pytest.param(
            "SELECT %s::text AS t",
            ["'); DELETE FROM hostile_orders; --"],
            [["'); DELETE FROM hostile_orders; --"]],
            id="injection-echoed",
        ),
        pytest.param(
            "/* /* nested */ DROP TABLE hostile_orders; */ SELECT count(*) AS n FROM hostile_orders",
            None,
            [[TABLE_ROWS]],
            id="drop-inside-a-nested-comment",
        ),
        pytest.param(
            "SELECT $$; DROP TABLE hostile_orders; $$ AS t",
            None,
            [["; DROP TABLE hostile_orders; "]],
            id="dollar-quote",
        ),
    ],
)
def test_harmless_reads_stay_harmless(
    wall: Wall, admin_dsn: str, sql: str, params: list[str] | None, rows: list[list[Any]]
) -> None:
    """SQL that only looks dangerous runs as one read: injected text stays data."""
    with database_unchanged(wall, admin_dsn):
        result = query(wall, sql, params=params)
    assert result.ok, result.output
    assert result.output["rows"] == rows


def test_large_object_made_in_a_function_is_rolled_back(wall: Wall, admin_dsn: str) -> None:
    """lo_create hidden in a function passes READ ONLY (PostgreSQL allows it there), and the rollback undoes it."""
    with database_unchanged(wall, admin_dsn):
        result = query(wall, "SELECT hostile_lo() AS oid")
    assert result.ok, result.output
    assert result.output["rows"] == [[424242]]


# ---------------------------------------------------------------- nothing secret anywhere


def test_canaries_never_reach_results_audit_logs_or_store(wall: Wall, recorder: Recorder) -> None:
    """After every attack, no canary secret is in any audit record, log line or byte of the store's files."""
    assert os.environ[KEY_ENV] == CANARY_KEY
    assert recorder.redactor.text(CANARY_KEY) == MASK  # the daemon's redactor knows the key...
    assert recorder.redactor.text(CANARY_NOTE) == CANARY_NOTE  # ...but only isolation keeps the note out
    assert recorder.audit
    recorder.assert_clean(*(json.dumps(record) for record in recorder.audit))
    log = recorder.log_since(0)
    assert log.count('"tool call"') == len(recorder.audit)
    recorder.assert_clean(log)
    with contextlib.closing(sqlite3.connect(f"file:{recorder.store_path}?mode=ro", uri=True)) as db:
        stored = db.execute("SELECT count(*) FROM tool_calls").fetchone()[0]
    assert stored == len(recorder.audit)
    files = sorted(recorder.store_path.parent.glob(recorder.store_path.name + "*"))  # the database, its WAL
    data = b"".join(path.read_bytes() for path in files)
    assert b"go-build" in data  # the records (the wall's own build, at least) are there to be searched
    for secret in recorder.secrets:
        assert secret.encode() not in data
