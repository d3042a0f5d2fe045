"""Issue 12's attacks on the tools (findings 3, the replace part of 4, 5, 6 and 7), each made with real parts.

A hostile regular expression against a daemon answering HTTP in another process; SQL that runs SQL of
its own, reaches back through dblink or pulls a gigabyte, against a real PostgreSQL; wrapper tricks,
read-only roles and denied paths in a real Docker sandbox; planted links, FIFOs and diff paths on a
real file system. Each test checks containment by state (the daemon answering, sessions alive, rows,
files, memory), not by the wording of a refusal, and each failed before its fix.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from agentd.kernel.policy import load_policy
from agentd.kernel.redact import Redactor
from agentd.kernel.seams import ToolResult
from agentd.perf.diffs import benchmark_packages
from sandbox.config import SandboxConfig
from sandbox.docker import DockerSandbox, DockerSandboxFactory
from tests.support.postgres import superuser_dsn
from tools.code import MAX_READ_BYTES, MAX_REPLACE_BYTES, CodeTool
from tools.config import QueryDatabaseConfig
from tools.execute import ExecuteCommandTool
from tools.query import QueryDatabaseArgs, QueryDatabaseTool
from tools.registry import Toolbox

REPO_ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policy()
VICTIM = "agentd-trust-victim"
CANARY = "canary-env-secret-5f1d0c"


def code_box(workspace: Path) -> Toolbox:
    """A toolbox with the code tool only, over `workspace`."""
    return Toolbox(CodeTool(workspace, POLICY), None, None, POLICY, Redactor([]))


def code(box: Toolbox, **arguments: Any) -> ToolResult:
    """One code tool call as a model makes it."""
    return box.call("proposer", "code", json.dumps(arguments))


def digest(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def child_env() -> dict[str, str]:
    """The environment of a child Python: this checkout's agentd first, whatever else is installed."""
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def run_isolated(source: str, *args: str, timeout_s: float = 30.0, memory_mb: int = 1024) -> Any:
    """Run Python `source` in a child with a memory limit and a deadline; the JSON it prints last.

    What the child does may hang or eat memory before a fix: a child keeps that away from pytest.
    """
    limit = f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({memory_mb << 20}, {memory_mb << 20}))\n"
    try:
        done = subprocess.run(
            [sys.executable, "-c", limit + source, *args],
            cwd=REPO_ROOT,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the child did not finish within {timeout_s} s (it hung)")
    assert done.returncode == 0, f"the child failed ({done.returncode}): {done.stderr[-2000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- 3: one regular expression freezes the daemon

DAEMON = """
import json, sys, time
from pathlib import Path
from agentd.intake.api import ApiServer
from agentd.intake.config import ApiConfig
from agentd.kernel.policy import load_policy
from agentd.kernel.redact import Redactor
from agentd.store.sqlite import SQLiteStore
from tools.code import CodeTool
from tools.registry import Toolbox

workspace, state, seconds = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
store = SQLiteStore(str(state / "agentd.db"))
api = ApiServer(ApiConfig(listen="127.0.0.1:0"), store, Redactor([]), repo="r", default_base="main",
                env={"AGENTD_API_TOKEN": "t" * 40})
api.start()
(state / "url").write_text(api.url)
policy = load_policy()
box = Toolbox(CodeTool(workspace, policy), None, None, policy, Redactor([]))
hostile = json.dumps({"action": "search", "file_path": ".", "pattern": "(a+)+$"})
started = time.monotonic()
with (state / "searches.jsonl").open("w") as searches:
    while time.monotonic() - started < seconds:
        began = time.monotonic()
        result = box.call("proposer", "code", hostile)
        record = {"seconds": time.monotonic() - began, "ok": result.ok, "output": result.output}
        searches.write(json.dumps(record) + "\\n")
"""


def test_a_catastrophic_pattern_does_not_stop_the_daemon(tmp_path: Path) -> None:
    """While a model searches with `(a+)+$` over lines of 40 `a`s and a `!`, over and over, the daemon's
    HTTP API in the same process keeps answering /healthz, and every search returns."""
    workspace, state = tmp_path / "ws", tmp_path / "state"
    (workspace / "pkg").mkdir(parents=True)
    state.mkdir()
    for number in range(20):
        (workspace / "pkg" / f"f{number}.txt").write_text(("a" * 40 + "!\n") * 200)
    (tmp_path / "daemon.py").write_text(DAEMON)
    argv = [sys.executable, str(tmp_path / "daemon.py"), str(workspace), str(state), "4"]
    log = (tmp_path / "daemon.log").open("w")
    with log, subprocess.Popen(argv, cwd=REPO_ROOT, stdout=log, env=child_env()) as child:
        try:
            deadline = time.monotonic() + 30
            while not (state / "url").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            url = (state / "url").read_text()
            answers = []
            end = time.monotonic() + 3
            while time.monotonic() < end:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as response:  # a frozen daemon times out
                    answers.append(response.status)
                time.sleep(0.1)
            assert child.wait(timeout=30) == 0
        finally:
            child.kill()
    searches = [json.loads(line) for line in (state / "searches.jsonl").read_text().splitlines()]
    assert len(answers) >= 20
    assert set(answers) == {200}
    assert searches  # searches ran while the API answered, and each one came back
    assert all(search["ok"] and search["output"]["matches"] == [] for search in searches)
    assert max(search["seconds"] for search in searches) < 2.0


def test_a_search_stops_at_its_deadline_and_says_so(tmp_path: Path) -> None:
    """A search with more to read than its deadline allows returns at the deadline, naming that limit."""
    from tools.search import SearchLimits  # noqa: PLC0415 - the one test that sets limits

    for number in range(400):
        (tmp_path / f"f{number}.txt").write_text("a\nb\n" * 5000)
    limits = SearchLimits(deadline_s=0.2)
    box = Toolbox(CodeTool(tmp_path, POLICY, limits), None, None, POLICY, Redactor([]))
    started = time.monotonic()
    result = code(box, action="search", file_path=".", pattern="a\\nb")  # every file passes the whole-file test
    assert time.monotonic() - started < 2.0
    assert result.ok
    assert result.output["stopped"] == "deadline"
    assert result.output["truncated"] is True


def test_syntax_the_engine_lacks_is_named_for_the_model(tmp_path: Path) -> None:
    """A lookbehind or a backreference is refused with a message naming RE2 and what it lacks; nothing is searched."""
    (tmp_path / "a.go").write_text("package a\n")
    for pattern in ("(?<=x)a", "(a)\\1"):
        result = code(code_box(tmp_path), action="search", file_path=".", pattern=pattern)
        assert not result.ok
        assert "RE2" in result.output["error"]
        assert "lookbehind" in result.output["error"]


# ---------------------------------------------------------------- 4: replace truncates large files


def test_replace_on_a_file_over_the_read_limit_keeps_all_of_it(tmp_path: Path) -> None:
    """replace in a file larger than what `read` shows changes the one occurrence and keeps every other byte."""
    body = "package big\n\nconst Marker = 1\n" + "// filler line of a generated file\n" * 10_000
    assert len(body) > MAX_READ_BYTES
    path = tmp_path / "big.go"
    path.write_text(body)
    box = code_box(tmp_path)
    result = code(box, action="replace", file_path="big.go", old_text="Marker = 1", new_text="Marker = 2")
    assert result.ok, result.output
    assert path.read_text() == body.replace("Marker = 1", "Marker = 2")


def test_replace_beyond_its_cap_refuses_and_changes_nothing(tmp_path: Path) -> None:
    """replace in a file over its cap is refused, and the file keeps every byte."""
    path = tmp_path / "huge.txt"
    path.write_text("Marker = 1\n" + "x" * MAX_REPLACE_BYTES)
    before = digest(path)
    result = code(code_box(tmp_path), action="replace", file_path="huge.txt", old_text="Marker = 1", new_text="M")
    assert not result.ok
    assert digest(path) == before


# ---------------------------------------------------------------- 5: SQL around the function denylist


def query_tool(dsn: str, **config: Any) -> QueryDatabaseTool:
    """query_database over `dsn` with the shipped policy."""
    return QueryDatabaseTool(dsn, QueryDatabaseConfig(**config), POLICY.sql)


def query(tool: QueryDatabaseTool, statement: str) -> ToolResult:
    """One query_database call as a model makes it."""
    return tool.run(QueryDatabaseArgs(sql=statement))


@contextlib.contextmanager
def victim_session(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """Another session on the database (the application's, say), under the same role as agentd's."""
    with psycopg.connect(make_conninfo(dsn, application_name=VICTIM), autocommit=True) as conn:
        yield conn


def alive(conn: psycopg.Connection[Any]) -> bool:
    """Whether the session still answers a query."""
    try:
        return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


TERMINATE = f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{VICTIM}'"
SQL_IN_A_STRING = [
    pytest.param(
        f"SELECT * FROM ts_stat($$SELECT to_tsvector(t::text) FROM ({TERMINATE}) AS k(t)$$)", id="ts_stat"
    ),
    pytest.param(
        f"SELECT * FROM ts_stat($$SELECT to_tsvector(t::text) FROM ({TERMINATE}) AS k(t)$$, 'a')", id="ts_stat-weights"
    ),
    pytest.param(
        f"SELECT ts_rewrite('a'::tsquery, $$SELECT to_tsquery(t::text), 'b'::tsquery FROM ({TERMINATE}) AS k(t)$$)",
        id="ts_rewrite",
    ),
    pytest.param(f"SELECT query_to_xml_and_xmlschema($${TERMINATE}$$, true, true, '')", id="query_to_xml_and_schema"),
]


@pytest.mark.postgres
@pytest.mark.parametrize("statement", SQL_IN_A_STRING)
def test_sql_inside_a_string_cannot_end_other_sessions(postgres_dsn: str, statement: str) -> None:
    """A built-in that runs a SQL string of its own cannot carry pg_terminate_backend past the guard."""
    with victim_session(postgres_dsn) as victim:
        query(query_tool(postgres_dsn), statement)
        assert alive(victim)


@pytest.fixture
def dblink_database(postgres_dsn: str) -> Iterator[str]:
    """A database with dblink installed and a table of ten rows; its superuser's DSN.

    The superuser stands for an operator who gave agentd too strong a role: the guard is what is left.
    """
    admin = superuser_dsn(postgres_dsn, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS agentd_trust_dblink")
        conn.execute("CREATE DATABASE agentd_trust_dblink")
    dsn = superuser_dsn(postgres_dsn, dbname="agentd_trust_dblink")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION dblink")
        conn.execute("CREATE TABLE victims AS SELECT g FROM generate_series(1, 10) AS g")
    yield dsn
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE agentd_trust_dblink WITH (FORCE)")


@pytest.mark.postgres
def test_dblink_cannot_reach_back_and_write(dblink_database: str) -> None:
    """dblink functions the old denylist missed (connect_u, send_query, get_result) cannot delete rows."""
    target = conninfo_to_dict(dblink_database)
    inner = f"host={target['host']} port={target['port']} user=postgres dbname=agentd_trust_dblink"
    statement = (
        f"SELECT dblink_connect_u('atk', '{inner}') AS c, dblink_send_query('atk', 'DELETE FROM victims') AS s, "
        "(SELECT count(*) FROM dblink_get_result('atk') AS r(status text)) AS done"
    )
    query(query_tool(dblink_database), statement)
    with psycopg.connect(dblink_database) as conn:
        assert conn.execute("SELECT count(*) FROM victims").fetchone() == (10,)


def advisory_locks(dsn: str, key: int) -> int:
    """How many advisory locks on `key` sessions hold right now."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted", [key]
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.postgres
@pytest.mark.parametrize("function", ["pg_advisory_lock_shared", "pg_try_advisory_lock", "pg_try_advisory_xact_lock"])
def test_advisory_locks_cannot_be_taken(postgres_dsn: str, function: str) -> None:
    """A statement cannot take the application's advisory lock and sit on it while it runs."""
    statement = f"SELECT {function}(424242), count(*) FROM generate_series(1, 30000000)"
    tool = query_tool(postgres_dsn, statement_timeout_ms=10_000)
    worker = threading.Thread(target=query, args=(tool, statement), daemon=True)
    seen = 0
    worker.start()
    while worker.is_alive() and seen == 0:
        seen = advisory_locks(postgres_dsn, 424242)
        time.sleep(0.02)
    worker.join(15)
    assert seen == 0


CHILD_QUERY = """
import json, resource, sys
from agentd.kernel.policy import load_policy
from tools.config import QueryDatabaseConfig
from tools.query import QueryDatabaseArgs, QueryDatabaseTool
tool = QueryDatabaseTool(sys.argv[1], QueryDatabaseConfig(statement_timeout_ms=60000), load_policy().sql)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = tool.run(QueryDatabaseArgs(sql=sys.argv[2]))
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"grown_kib": grown, "ok": result.ok, "rows": len(result.output.get("rows") or [])}))
"""


@pytest.mark.postgres
def test_a_huge_result_never_enters_agentd(postgres_dsn: str) -> None:
    """Five rows of 50 MB each are held back by the server: agentd's memory barely moves, no row arrives."""
    statement = "SELECT repeat('x', 50000000) FROM generate_series(1, 5)"
    outcome = run_isolated(CHILD_QUERY, postgres_dsn, statement, timeout_s=120, memory_mb=4096)
    assert outcome["ok"]
    assert outcome["rows"] == 0
    assert outcome["grown_kib"] < 64 * 1024


@pytest.mark.postgres
def test_rows_stop_at_the_byte_cap(postgres_dsn: str) -> None:
    """Rows of 300 kB each arrive only while the result stays within max_result_bytes."""
    tool = query_tool(postgres_dsn, max_result_bytes=1_000_000)
    result = query(tool, "SELECT g, repeat('y', 300000) AS pad FROM generate_series(1, 10) AS g")
    assert result.ok
    assert [row[0] for row in result.output["rows"]] == [1, 2, 3]
    assert sum(len(row[1]) for row in result.output["rows"]) <= 1_000_000
    assert result.output["truncated"] is True


# ---------------------------------------------------------------- 6: the policy promises more than it delivers


@pytest.fixture(scope="module")
def sandbox(
    docker_client: docker.DockerClient, sandbox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DockerSandbox]:
    """A real sandbox over a workspace holding a .env secret, a badly formatted Go file and a writer program."""
    root = tmp_path_factory.mktemp("trust-sandbox")
    workspace = root / "ws"
    (workspace / "cart").mkdir(parents=True)
    (workspace / "cmd" / "writer").mkdir(parents=True)
    (workspace / "go.mod").write_text("module example.com/trust\n\ngo 1.19\n")
    (workspace / "cart" / "cart.go").write_text("package cart\nfunc   Total( ) int {return 1}\n")
    (workspace / "cart" / "cart_test.go").write_text(
        'package cart\n\nimport "testing"\n\nfunc TestTotal(t *testing.T) { _ = Total() }\n'
    )
    (workspace / "cmd" / "writer" / "main.go").write_text(
        'package main\n\nimport "os"\n\nfunc main() { _ = os.WriteFile("pwned", []byte("x"), 0o644) }\n'
    )
    (workspace / "in.txt").write_text("b\na\n")
    (workspace / ".env").write_text(f"API_KEY={CANARY}\n")
    (workspace / "env_link").symlink_to(".env")
    factory = DockerSandboxFactory(SandboxConfig(), root / "run", docker_client)
    opened = factory.open(workspace, "trust-policy")
    try:
        yield opened
    finally:
        opened.close()


def run(sandbox: DockerSandbox, command: list[str], role: str = "proposer") -> ToolResult:
    """One execute_command call through a toolbox over the sandbox."""
    box = Toolbox(
        CodeTool(sandbox.workspace, POLICY),
        ExecuteCommandTool(sandbox, POLICY, 120.0),
        None,
        POLICY,
        Redactor([]),
    )
    return box.call(role, "execute_command", json.dumps({"command": command, "timeout_s": 120}))


@pytest.mark.docker
@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["env", "--u", "ls", "sh", "-c", "touch pwned"], id="env-abbreviated-unset"),
        pytest.param(["env", "--uns=ls", "sh", "-c", "touch pwned"], id="env-abbreviated-unset-glued"),
        pytest.param(["timeout", "--sig", "ls", "5", "sh", "-c", "touch pwned"], id="timeout-abbreviated-signal"),
        pytest.param(["nice", "--adj", "ls", "sh", "-c", "touch pwned"], id="nice-abbreviated-adjustment"),
    ],
)
def test_abbreviated_wrapper_options_cannot_smuggle_a_shell(sandbox: DockerSandbox, command: list[str]) -> None:
    """A GNU abbreviation of a wrapper's long option does not make `sh -c` pass as `ls`: no shell runs."""
    run(sandbox, command)
    assert not (sandbox.workspace / "pwned").exists()


@pytest.mark.docker
@pytest.mark.parametrize(
    ("command", "changed"),
    [
        pytest.param(["gofmt", "-w", "cart/cart.go"], "cart/cart.go", id="gofmt-w"),
        pytest.param(["sort", "-o", "sorted.txt", "in.txt"], "sorted.txt", id="sort-o"),
        pytest.param(["sort", "-ro", "sorted.txt", "in.txt"], "sorted.txt", id="sort-cluster-o"),
        pytest.param(["go", "run", "./cmd/writer"], "pwned", id="go-run"),
        pytest.param(["go", "build", "./cmd/writer"], "writer", id="go-build"),
        pytest.param(["go", "test", "-coverprofile=cover.out", "./cart"], "cover.out", id="go-test-coverprofile"),
    ],
)
def test_read_only_roles_cannot_write_through_allowed_commands(
    sandbox: DockerSandbox, command: list[str], changed: str
) -> None:
    """A critic (write: false) running a writer leaves the workspace as it was."""
    before = {path: digest(path) for path in sorted(sandbox.workspace.rglob("*")) if path.is_file()}
    run(sandbox, command, role="critic")
    after = {path: digest(path) for path in sorted(sandbox.workspace.rglob("*")) if path.is_file()}
    assert after == before, f"{changed} was written"


@pytest.mark.docker
@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["cat", ".env"], id="cat"),
        pytest.param(["head", "cart/../.env"], id="dotdot"),
        pytest.param(["cat", "/workspace/.env"], id="absolute"),
        pytest.param(["diff", "in.txt", "./.env"], id="diff"),
        pytest.param(["cat", "env_link"], id="link-to-env"),
        pytest.param(["timeout", "5", "tail", ".env"], id="behind-a-wrapper"),
    ],
)
def test_denied_paths_are_not_read_by_commands(sandbox: DockerSandbox, command: list[str]) -> None:
    """A command naming a path the deny globs cover never reads it: the secret does not come back."""
    result = run(sandbox, command)
    assert result.decision == "refused"
    assert CANARY not in json.dumps(result.output)


# ---------------------------------------------------------------- 7: host-side reads follow planted links

BENCHMARK_PACKAGES = """
import json, sys
from pathlib import Path
from agentd.perf.diffs import benchmark_packages
print(json.dumps(benchmark_packages(sys.argv[1], Path(sys.argv[2]))))
"""
FIND_SQL_CALLS = """
import json, sys
from pathlib import Path
from agentd.perf.sql_sources import find_sql_calls
print(json.dumps([call.sql for call in find_sql_calls(Path(sys.argv[1]))]))
"""
DETECT_CONVENTION = """
import json, sys
from pathlib import Path
from agentd.perf.indexes import detect_convention
print(json.dumps(detect_convention(Path(sys.argv[1])).directory))
"""
BENCHMARK_TEST = 'package pkg\n\nimport "testing"\n\nfunc BenchmarkOutside(b *testing.B) {}\n'
OUTSIDE_GO = 'package store\n\nfunc f(db DB) { db.Query("SELECT secret FROM vault") }\n'


def planted_worktree(tmp_path: Path, kind: str, planted: str, host_text: str, files: dict[str, str]) -> Path:
    """A worktree holding `files` and, at `planted`, a link to /dev/zero, a FIFO, or a link to a host file."""
    outside = tmp_path / "host" / Path(planted).name
    outside.parent.mkdir()
    outside.write_text(host_text)
    worktree = tmp_path / "wt"
    for relative, text in files.items():
        (worktree / relative).parent.mkdir(parents=True, exist_ok=True)
        (worktree / relative).write_text(text)
    path = worktree / planted
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(outside)
    return worktree


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "host-file"])
def test_benchmark_packages_reads_nothing_planted(tmp_path: Path, kind: str) -> None:
    """A planted pkg/a_test.go (link to /dev/zero, FIFO, link to a host file) neither hangs, floods nor leaks."""
    worktree = planted_worktree(tmp_path, kind, "pkg/a_test.go", BENCHMARK_TEST, {"pkg/a.go": "package pkg\n"})
    assert run_isolated(BENCHMARK_PACKAGES, "+++ b/pkg/a.go\n", str(worktree), memory_mb=512) == []


def test_a_diff_path_cannot_lead_outside_the_worktree(tmp_path: Path) -> None:
    """`+++ b/../../x.go` does not make agentd look for benchmarks two directories above the worktree."""
    (tmp_path / "x_test.go").write_text(BENCHMARK_TEST)
    worktree = tmp_path / "a" / "wt"
    worktree.mkdir(parents=True)
    assert benchmark_packages("+++ b/../../x.go\n+++ b/../../../x.go\n", worktree) == []


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "host-file"])
def test_find_sql_calls_reads_nothing_planted(tmp_path: Path, kind: str) -> None:
    """A planted store/evil.go neither hangs nor floods the scan, and a host file's SQL is not read through it."""
    store = 'package store\n\nfunc g(db DB) { db.Query("SELECT 1") }\n'
    worktree = planted_worktree(tmp_path, kind, "store/evil.go", OUTSIDE_GO, {"store/store.go": store})
    assert run_isolated(FIND_SQL_CALLS, str(worktree), memory_mb=512) == ["SELECT 1"]


@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
def test_migration_convention_reads_nothing_planted(tmp_path: Path, kind: str) -> None:
    """A planted numbered migration (link to /dev/zero, FIFO) neither hangs nor floods the convention check."""
    first = {"db/0001_init.sql": "SELECT 1;\n"}  # not goose: the next file is read to tell
    worktree = planted_worktree(tmp_path, kind, "db/0002_evil.sql", "SELECT 1;\n", first)
    assert run_isolated(DETECT_CONVENTION, str(worktree), memory_mb=512) == "db"


def test_a_migration_is_never_written_through_a_planted_link(tmp_path: Path) -> None:
    """With migrations/ a link to a host directory, writing the index migration puts nothing there."""
    from agentd.perf.indexes import IndexCheckError, write_migration  # noqa: PLC0415
    from agentd.perf.plans import IndexSuggestion  # noqa: PLC0415

    host = tmp_path / "host"
    host.mkdir()
    (host / "0001_init.sql").write_text("SELECT 1;\n")
    worktree = tmp_path / "wt"
    worktree.mkdir()
    (worktree / "migrations").symlink_to(host)
    with contextlib.suppress(IndexCheckError):
        write_migration(IndexSuggestion("orders", ("customer_email",)), worktree)
    assert sorted(path.name for path in host.iterdir()) == ["0001_init.sql"]
