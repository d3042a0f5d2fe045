"""query_database against a real PostgreSQL: results, limits, refusals, timeouts and secrecy."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from agentd.kernel.policy import SqlRules, load_policy
from agentd.kernel.seams import ToolResult
from agentd.targetdb import execute_read_only
from tools.config import QueryDatabaseConfig
from tools.query import (
    QueryDatabaseArgs,
    QueryDatabaseTool,
    bind_placeholders,
    json_safe,
)

RULES = load_policy().sql
ITEMS = 50
postgres = pytest.mark.postgres

# Statements that would change the database if anything let them through.
DESTRUCTIVE = [
    "COMMIT; DROP TABLE items",
    "/* innocent */ DELETE FROM items",
    "SELECT 1; UPDATE items SET price = 0",
    "WITH d AS (DELETE FROM items RETURNING id) SELECT count(*) FROM d",
    "WITH i AS (INSERT INTO items (name, price) VALUES ('x', 1) RETURNING id) SELECT * FROM i",
    "EXPLAIN ANALYZE DELETE FROM items",
    "EXPLAIN (ANALYZE) UPDATE orders SET qty = 0",
    "SELECT lo_create(0)",
    "SELECT lo_import('/etc/hostname')",
    "COPY items TO PROGRAM 'true'",
    "SELECT set_config('default_transaction_read_only', 'off', false)",
    "SELECT * FROM items FOR UPDATE",
    "SELECT * FROM items FOR SHARE",
    "SELECT * FROM items WHERE id IN (SELECT pg_sleep(0.1)::text::int)",
    "SELECT pg_catalog.pg_sleep(0.1)",
    "DROP TABLE orders",
    "CREATE TABLE stolen (id int)",
    "TRUNCATE items",
    "SET ROLE postgres",
    "SET default_transaction_read_only = off",
    "SELECT * INTO stolen FROM items",
    "DO $$ BEGIN DELETE FROM items; END $$",
    "CALL nothing()",
    "VACUUM items",
    "LOCK TABLE items",
    "NOTIFY jobs",
    "PREPARE wipe AS DELETE FROM items",
    "SELECT nextval('items_id_seq')",
    "SELECT * FROM dblink('dbname=agentd_test', 'DELETE FROM items') AS t(x text)",
    "SELECT pg_read_file('/etc/hostname')",
    "GRANT ALL ON items TO PUBLIC",
    "ALTER TABLE items ADD COLUMN evil int",
]


def make_tool(dsn: str | None, **config: Any) -> QueryDatabaseTool:
    """A tool over `dsn` with the shipped SQL rules and the given [target_database] settings."""
    return QueryDatabaseTool(dsn, QueryDatabaseConfig(dsn_env="AGENTD_TARGET_DSN", **config), RULES)


def call(tool: QueryDatabaseTool, sql: str, **args: Any) -> ToolResult:
    """Validate arguments as the toolbox would, then run the tool."""
    return tool.run(QueryDatabaseArgs.model_validate({"sql": sql, **args}))


def fingerprint(dsn: str) -> tuple[Any, ...]:
    """Everything a write could change: catalog size, roles, large objects, table contents, the sequence."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            """
            SELECT (SELECT count(*) FROM pg_class),
                   (SELECT count(*) FROM pg_roles),
                   (SELECT count(*) FROM pg_largeobject_metadata),
                   (SELECT count(*) FROM items),
                   (SELECT md5(string_agg(i::text, ',' ORDER BY id)) FROM items AS i),
                   (SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM orders AS o),
                   (SELECT last_value FROM items_id_seq)
            """
        ).fetchone()
    assert row is not None
    return tuple(row)


@pytest.fixture(scope="module")
def dsn(postgres_dsn: str) -> str:
    """The test database seeded with items, orders and a function that writes (as the owning role)."""
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS orders, items, stolen CASCADE")
        conn.execute("CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, price numeric NOT NULL)")
        conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, item_id int REFERENCES items, qty int NOT NULL)")
        conn.execute("INSERT INTO items (name, price) SELECT 'item ' || g, g FROM generate_series(1, %s) AS g", [ITEMS])
        conn.execute("INSERT INTO orders (item_id, qty) SELECT g, g * 2 FROM generate_series(1, 20) AS g")
        conn.execute(
            "CREATE OR REPLACE FUNCTION bump() RETURNS int LANGUAGE plpgsql AS "
            "$$ BEGIN INSERT INTO items (name, price) VALUES ('bumped', 0); RETURN 1; END $$"
        )
    return postgres_dsn


# ---------------------------------------------------------------- pure parts


@pytest.mark.parametrize(
    ("sql", "params", "text", "values"),
    [
        ("SELECT 1", None, "SELECT 1", None),
        ("SELECT '100%'", None, "SELECT '100%'", None),
        ("SELECT $1, $2", [1, 2], "SELECT $1, $2", [1, 2]),
        ("SELECT %s, %s", [1, 2], "SELECT $1, $2", [1, 2]),
        ("SELECT %(a)s, %(b)s, %(a)s", {"b": 2, "a": 1}, "SELECT $1, $2, $1", [1, 2]),
        ("SELECT %s WHERE 'x' LIKE '%%x'", ["v"], "SELECT $1 WHERE 'x' LIKE '%x'", ["v"]),
    ],
)
def test_bind_placeholders_produces_native_parameters(
    sql: str, params: Any, text: str, values: list[Any] | None
) -> None:
    """psycopg placeholders become $n with values in order; without params the text is untouched."""
    assert bind_placeholders(sql, params) == (text, values)


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("SELECT %s, %s", [1]),
        ("SELECT %(a)s", {"b": 1}),
        ("SELECT %s", {"a": 1}),
        ("SELECT %(a)s", [1]),
        ("SELECT %(a)s %x", {"a": 1}),
        ("SELECT %s, %(a)s", {"a": 1}),
    ],
)
def test_bind_placeholders_rejects_mismatches(sql: str, params: Any) -> None:
    """A placeholder/value mismatch is a ValueError naming the fix, never a silently wrong query."""
    with pytest.raises(ValueError, match=r"placeholder|params|mix"):
        bind_placeholders(sql, params)


def test_json_safe_turns_database_values_into_json() -> None:
    """Decimals, bytes, non-finite floats and nested values all survive json.dumps."""
    value = json_safe([Decimal("1.50"), b"\x00\xff", float("nan"), {"k": (1, Decimal(2))}])
    assert value == ["1.50", "\\x00ff", "nan", {"k": [1, "2"]}]
    json.dumps(value)


def test_role_without_sql_is_refused() -> None:
    """A role whose limits forbid SQL is refused before anything is parsed or run."""
    result = make_tool("host=unused").run(QueryDatabaseArgs(sql="SELECT 1"), role_allows_sql=False)
    assert (result.ok, result.decision, result.rule) == (False, "refused", "role:sql")


def test_missing_dsn_is_a_clear_error() -> None:
    """With no DSN configured an accepted query fails with a message naming dsn_env."""
    result = call(make_tool(None), "SELECT 1")
    assert (result.ok, result.decision) == (False, "failed")
    assert "AGENTD_TARGET_DSN" in result.error_text()
    assert "dsn_env" in result.error_text()


def test_refusal_comes_before_the_missing_dsn() -> None:
    """A hostile statement is refused by the guard even when no database is configured."""
    result = call(make_tool(None), "DROP TABLE items")
    assert (result.decision, result.rule) == ("refused", "sql:statement-kind")


def test_bad_params_are_an_invalid_call() -> None:
    """A placeholder/value mismatch is reported as an invalid call the model can retry."""
    result = call(make_tool(None), "SELECT %s, %s", params=[1])
    assert (result.ok, result.decision, result.rule) == (False, "invalid", "sql:params")


def test_explain_needs_a_select() -> None:
    """explain='plan' on a SHOW is refused with a message saying EXPLAIN takes a SELECT."""
    result = call(make_tool(None), "SHOW work_mem", explain="plan")
    assert (result.decision, result.rule) == ("refused", "sql:explain-target")


def test_explain_needs_the_policy_to_allow_it() -> None:
    """explain='analyze' is refused when the policy lists only 'select'."""
    tool = QueryDatabaseTool(None, QueryDatabaseConfig.model_validate({}), SqlRules(statements=["select"]))
    result = tool.run(QueryDatabaseArgs(sql="SELECT 1", explain="analyze"))
    assert (result.decision, result.rule) == ("refused", "sql:statement-kind")


def test_arguments_forbid_unknown_fields() -> None:
    """The argument model rejects fields it does not define, so typos are reported, not ignored."""
    with pytest.raises(ValueError, match="extra"):
        QueryDatabaseArgs.model_validate({"sql": "SELECT 1", "autocommit": True})


# ---------------------------------------------------------------- against PostgreSQL


@postgres
def test_select_returns_columns_and_rows(dsn: str) -> None:
    """A SELECT returns its column names and rows as JSON-safe lists."""
    result = call(make_tool(dsn), "SELECT id, name, price FROM items WHERE id <= 2 ORDER BY id")
    assert result.ok, result.output
    assert result.decision == "allowed"
    assert result.output == {
        "columns": ["id", "name", "price"],
        "rows": [[1, "item 1", "1"], [2, "item 2", "2"]],
        "row_count": 2,
        "truncated": False,
        "plan": None,
    }
    assert result.duration_ms > 0


@postgres
def test_empty_result_still_names_its_columns(dsn: str) -> None:
    """A SELECT matching nothing still reports its columns, so the model sees the shape."""
    result = call(make_tool(dsn), "SELECT id, name FROM items WHERE false")
    assert result.output["columns"] == ["id", "name"]
    assert result.output["rows"] == []


@postgres
@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("SELECT name FROM items WHERE id = $1 AND price > $2", [7, 1]),
        ("SELECT name FROM items WHERE id = %s AND price > %s", [7, 1]),
        ("SELECT name FROM items WHERE id = %(id)s AND price > %(min)s", {"id": 7, "min": 1}),
    ],
)
def test_params_are_bound_by_the_server(dsn: str, sql: str, params: Any) -> None:
    """Positional ($n or %s) and named (%(name)s) params select the same row."""
    result = call(make_tool(dsn), sql, params=params)
    assert result.ok, result.output
    assert result.output["rows"] == [["item 7"]]


@postgres
def test_params_cannot_inject_sql(dsn: str) -> None:
    """A hostile string in params is compared as a value, never run as SQL."""
    result = call(make_tool(dsn), "SELECT count(*) FROM items WHERE name = $1", params=["x'; DROP TABLE items; --"])
    assert result.output["rows"] == [[0]]


@postgres
def test_join_with_params(dsn: str) -> None:
    """A join with parameters returns the joined columns."""
    result = call(
        make_tool(dsn),
        "SELECT i.name, o.qty FROM items i JOIN orders o ON o.item_id = i.id WHERE i.id = $1",
        params=[3],
    )
    assert result.output["columns"] == ["name", "qty"]
    assert result.output["rows"] == [["item 3", 6]]


@postgres
def test_row_cap_truncates(dsn: str) -> None:
    """More rows than max_rows come back capped, with truncated set."""
    result = call(make_tool(dsn, max_rows=5), "SELECT id FROM items ORDER BY id")
    assert result.output["rows"] == [[1], [2], [3], [4], [5]]
    assert result.output["row_count"] == 5
    assert result.output["truncated"] is True


@postgres
def test_exactly_max_rows_is_not_truncated(dsn: str) -> None:
    """A result of exactly max_rows rows is complete, so truncated stays false."""
    result = call(make_tool(dsn, max_rows=5), "SELECT id FROM items ORDER BY id LIMIT 5")
    assert result.output["row_count"] == 5
    assert result.output["truncated"] is False


@postgres
def test_show_returns_the_setting(dsn: str) -> None:
    """SHOW returns the setting as one row; statement_timeout shows the tool's own limit."""
    result = call(make_tool(dsn, statement_timeout_ms=4000), "SHOW statement_timeout")
    assert result.output["columns"] == ["statement_timeout"]
    assert result.output["rows"] == [["4s"]]


@postgres
def test_runs_read_only_with_local_timeouts(dsn: str) -> None:
    """The statement runs in a READ ONLY transaction with lock and idle timeouts set."""
    result = call(
        make_tool(dsn, statement_timeout_ms=3000),
        "SELECT current_setting('transaction_read_only'), current_setting('lock_timeout'), "
        "current_setting('idle_in_transaction_session_timeout')",
    )
    assert result.output["rows"] == [["on", "3s", "13s"]]


def _rollbacks(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()").fetchone()
    assert row is not None
    return int(row[0])


@postgres
def test_every_call_ends_in_a_rollback(dsn: str) -> None:
    """A successful SELECT still ends its transaction with ROLLBACK, as the server's statistics show."""
    before = _rollbacks(dsn)
    assert call(make_tool(dsn), "SELECT 1").ok
    deadline = time.monotonic() + 10  # a backend reports its statistics when it exits
    while _rollbacks(dsn) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _rollbacks(dsn) > before


@postgres
def test_explain_plan_returns_json_plan(dsn: str) -> None:
    """explain='plan' returns the planner's JSON with a 'Plan' node and no rows."""
    result = call(make_tool(dsn), "SELECT * FROM items WHERE price > $1", params=[10], explain="plan")
    assert result.ok, result.output
    plan = result.output["plan"]
    assert plan[0]["Plan"]["Relation Name"] == "items"
    assert "Actual Rows" not in plan[0]["Plan"]
    assert result.output["rows"] == []


@postgres
def test_explain_analyze_returns_actual_rows(dsn: str) -> None:
    """explain='analyze' runs the SELECT and reports the actual row count and timing."""
    result = call(make_tool(dsn), "SELECT * FROM items WHERE price > 10", explain="analyze")
    assert result.ok, result.output
    top = result.output["plan"][0]
    assert top["Plan"]["Actual Rows"] == ITEMS - 10
    assert "Execution Time" in top


@postgres
def test_json_unsafe_types_are_made_safe(dsn: str) -> None:
    """numeric, timestamptz, bytea, uuid, interval, jsonb, arrays and NaN all come back JSON-serialisable."""
    result = call(
        make_tool(dsn),
        "SELECT 1.50::numeric, timestamptz '2024-01-02 03:04:05+00', '\\x00ff'::bytea, "
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, interval '1 day', '{\"a\": [1, 2]}'::jsonb, "
        "ARRAY[1, 2], 'NaN'::float8, date '2024-01-02'",
    )
    assert result.ok, result.output
    row = result.output["rows"][0]
    json.dumps(result.output)
    assert row[0] == "1.50"
    assert row[1].startswith("2024-01-02T03:04:05")
    assert row[2] == "\\x00ff"
    assert row[3] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert row[5:] == [{"a": [1, 2]}, [1, 2], "nan", "2024-01-02"]


@postgres
@pytest.mark.parametrize("sql", DESTRUCTIVE, ids=[sql[:48] for sql in DESTRUCTIVE])
def test_refused_statements_change_nothing(dsn: str, sql: str) -> None:
    """A destructive statement is refused and the catalog, roles and table contents stay the same."""
    before = fingerprint(dsn)
    result = call(make_tool(dsn), sql)
    assert (result.ok, result.decision) == (False, "refused")
    assert result.rule.startswith("sql:")
    assert fingerprint(dsn) == before


@postgres
def test_writing_function_is_stopped_by_the_read_only_transaction(dsn: str) -> None:
    """A SELECT the guard accepts (the policy allows the project's bump()) but whose function writes fails as
    read-only, and nothing changes."""
    before = fingerprint(dsn)
    rules = RULES.model_copy(update={"allowed_functions": ["bump"]})
    tool = QueryDatabaseTool(dsn, QueryDatabaseConfig(dsn_env="AGENTD_TARGET_DSN"), rules)
    assert call(make_tool(dsn), "SELECT bump()").rule == "sql:function-not-allowed:bump"
    result = call(tool, "SELECT bump()")
    assert (result.ok, result.decision) == (False, "failed")
    assert result.output["sqlstate"] == "25006"
    assert "read-only" in result.error_text()
    assert fingerprint(dsn) == before


@postgres
def test_execution_layer_alone_refuses_an_insert(dsn: str) -> None:
    """Called directly, past the guard, the executing layer's READ ONLY transaction stops an INSERT."""
    before = fingerprint(dsn)
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        execute_read_only(
            dsn, "INSERT INTO items (name, price) VALUES ('x', 1)", None, statement_timeout_ms=1000, max_rows=10
        )
    assert fingerprint(dsn) == before


@postgres
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1; DELETE FROM items",
        "WITH d AS (DELETE FROM items RETURNING id) SELECT * FROM d",
        "DELETE FROM items",
        "CREATE TABLE stolen AS SELECT * FROM items",
    ],
)
def test_execution_layer_alone_refuses_other_writes(dsn: str, sql: str) -> None:
    """Past the guard, two statements, DML in a CTE, DELETE and DDL all fail at the server and change nothing."""
    before = fingerprint(dsn)
    with pytest.raises(psycopg.Error):
        execute_read_only(dsn, sql, None, statement_timeout_ms=1000, max_rows=10)
    assert fingerprint(dsn) == before


@postgres
def test_statement_timeout_is_a_failed_result(dsn: str) -> None:
    """A statement running past statement_timeout comes back as a failed result, not an exception."""
    result = call(
        make_tool(dsn, statement_timeout_ms=200),
        "SELECT count(*) FROM generate_series(1, 1000000) AS a, generate_series(1, 1000) AS b",
    )
    assert (result.ok, result.decision) == (False, "failed")
    assert result.output["sqlstate"] == "57014"
    assert "statement timeout" in result.error_text()
    assert result.duration_ms < 5000


@postgres
def test_locked_table_times_out_instead_of_hanging(dsn: str) -> None:
    """A table held under an exclusive lock makes the call fail within its timeouts, not hang."""
    locked = threading.Event()
    release = threading.Event()

    def hold_lock() -> None:
        with psycopg.connect(dsn) as conn:
            conn.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(10)
            conn.rollback()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)
        result = call(make_tool(dsn, statement_timeout_ms=300), "SELECT count(*) FROM orders")
    finally:
        release.set()
        holder.join()
    assert (result.ok, result.decision) == (False, "failed")
    assert result.output["sqlstate"] in {"55P03", "57014"}


@postgres
def test_server_errors_are_failed_results_with_a_hint(dsn: str) -> None:
    """An unknown table fails with the server's message, its sqlstate and a hint where to look."""
    result = call(make_tool(dsn), "SELECT * FROM no_such_table")
    assert (result.ok, result.decision) == (False, "failed")
    assert 'relation "no_such_table" does not exist' in result.error_text()
    assert "information_schema.tables" in result.error_text()


@postgres
def test_password_never_appears_in_any_result(dsn: str) -> None:
    """No result — success, refusal, server error, timeout, bad password, unreachable server — shows a password."""
    info = conninfo_to_dict(dsn)
    password = str(info["password"])
    wrong = "Wr0ng-S3cret-Value"
    url = f"postgresql://{info['user']}:{urllib.parse.quote(wrong + '@x', safe='')}@127.0.0.1:{info['port']}/x"
    calls: list[tuple[str, str, dict[str, Any]]] = [
        (dsn, "SELECT current_user", {}),
        (dsn, f"SELECT '{password}' = $1", {"params": [password]}),
        (dsn, "DROP TABLE items", {}),
        (dsn, "SELECT * FROM no_such_table", {}),
        (dsn, "SELECT count(*) FROM generate_series(1, 100000000)", {}),
        (re.sub(r"password=\S+", f"password={wrong}", dsn), "SELECT 1", {}),
        (url, "SELECT 1", {}),
        (re.sub(r"port=\d+", "port=1", dsn), "SELECT 1", {}),
    ]
    results = [call(make_tool(target, statement_timeout_ms=200), sql, **args) for target, sql, args in calls]
    for (target, sql, _), result in zip(calls, results, strict=True):
        text = json.dumps(result.output) + result.rule
        assert password not in text, (sql, text)
        assert target not in text
        assert wrong not in text
        assert urllib.parse.quote(wrong + "@x", safe="") not in text
    assert results[1].output["rows"] == [[True]]
    assert all(r.decision == "failed" and r.error_text() for r in results[3:])


@postgres
def test_documented_read_only_role_can_read_but_not_write(dsn: str) -> None:
    """The SQL in docs/sql-role.md creates a role that can SELECT, starts read-only, and lacks write privileges."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "sql-role.md"
    block = re.search(r"```sql\n(.*?)```", doc.read_text(encoding="utf-8"), re.DOTALL)
    assert block is not None
    script = (
        block.group(1)
        .replace("appdb", "agentd_test")
        .replace("app_owner", "agentd_test")
        .replace("change-me", "ro-secret-1")
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP OWNED BY agentd_ro" if _role_exists(conn, "agentd_ro") else "SELECT 1")
        conn.execute("DROP ROLE IF EXISTS agentd_ro")
        for statement in filter(str.strip, script.split(";")):
            conn.execute(statement)
    ro_dsn = re.sub(r"user=\S+", "user=agentd_ro", re.sub(r"password=\S+", "password=ro-secret-1", dsn))
    result = call(make_tool(ro_dsn), "SELECT count(*), current_setting('default_transaction_read_only') FROM items")
    assert result.output["rows"] == [[ITEMS, "on"]]
    with psycopg.connect(ro_dsn, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")  # only privileges are left to stop it
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM items")


def _role_exists(conn: psycopg.Connection[Any], role: str) -> bool:
    row = conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [role]).fetchone()
    return bool(row and row[0])
