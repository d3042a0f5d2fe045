"""The SQL guard, over plain strings: what it refuses, under which rule, and what it lets through."""

from __future__ import annotations

import pytest
from pglast import ast, parse_sql

from agentd.kernel.policy import SqlRules, load_policy
from agentd.kernel.sqlguard import check_sql, function_names, is_select, walk

RULES = load_policy().sql  # the shipped policies/default.yaml

# (sql, the rule that must refuse it)
HOSTILE: list[tuple[str, str]] = [
    # more than one statement, or none
    ("COMMIT; DROP TABLE items", "sql:one-statement"),
    ("SELECT 1; SELECT 2", "sql:one-statement"),
    ("SELECT * FROM items; DELETE FROM items", "sql:one-statement"),
    ("ROLLBACK; BEGIN READ WRITE; DELETE FROM items", "sql:one-statement"),
    ("", "sql:one-statement"),
    ("-- nothing but a comment", "sql:one-statement"),
    # comments in front hide nothing
    ("/* harmless */ -- really\nDROP TABLE items", "sql:statement-kind"),
    # transaction control, settings, roles
    ("COMMIT", "sql:statement-kind"),
    ("BEGIN", "sql:statement-kind"),
    ("START TRANSACTION READ WRITE", "sql:statement-kind"),
    ("SAVEPOINT s", "sql:statement-kind"),
    ("SET ROLE postgres", "sql:statement-kind"),
    ("SET SESSION AUTHORIZATION postgres", "sql:statement-kind"),
    ("SET statement_timeout = 0", "sql:statement-kind"),
    ("SET TRANSACTION READ WRITE", "sql:statement-kind"),
    ("RESET ALL", "sql:statement-kind"),
    # writes and DDL at the top
    ("INSERT INTO items (name) VALUES ('x')", "sql:statement-kind"),
    ("UPDATE items SET price = 0", "sql:statement-kind"),
    ("DELETE FROM items", "sql:statement-kind"),
    ("MERGE INTO items i USING items j ON i.id = j.id WHEN MATCHED THEN DELETE", "sql:statement-kind"),
    ("DROP TABLE items", "sql:statement-kind"),
    ("CREATE TABLE stolen (id int)", "sql:statement-kind"),
    ("CREATE TABLE stolen AS SELECT * FROM items", "sql:statement-kind"),
    ("ALTER TABLE items ADD COLUMN evil int", "sql:statement-kind"),
    ("TRUNCATE items", "sql:statement-kind"),
    ("GRANT ALL ON items TO PUBLIC", "sql:statement-kind"),
    ("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", "sql:statement-kind"),
    # utility commands
    ("COPY items TO PROGRAM 'rm -rf /'", "sql:statement-kind"),
    ("COPY (SELECT * FROM items) TO '/tmp/items.csv'", "sql:statement-kind"),
    ("COPY items FROM '/etc/passwd'", "sql:statement-kind"),
    ("DO $$ BEGIN DELETE FROM items; END $$", "sql:statement-kind"),
    ("CALL cleanup()", "sql:statement-kind"),
    ("VACUUM FULL items", "sql:statement-kind"),
    ("ANALYZE items", "sql:statement-kind"),
    ("LOCK TABLE items IN ACCESS EXCLUSIVE MODE", "sql:statement-kind"),
    ("LISTEN jobs", "sql:statement-kind"),
    ("NOTIFY jobs, 'boom'", "sql:statement-kind"),
    ("PREPARE wipe AS DELETE FROM items", "sql:statement-kind"),
    ("EXECUTE wipe", "sql:statement-kind"),
    ("DECLARE c CURSOR FOR SELECT * FROM items", "sql:statement-kind"),
    ("CHECKPOINT", "sql:statement-kind"),
    ("ALTER SYSTEM SET fsync = off", "sql:statement-kind"),
    ("LOAD 'evil.so'", "sql:statement-kind"),
    # data-modifying CTEs, however deep
    ("WITH d AS (DELETE FROM items RETURNING *) SELECT * FROM d", "sql:dml-in-cte"),
    ("WITH u AS (UPDATE items SET price = 0 RETURNING id) SELECT count(*) FROM u", "sql:dml-in-cte"),
    ("WITH i AS (INSERT INTO items (name) VALUES ('x') RETURNING id) SELECT 1", "sql:dml-in-cte"),
    ("SELECT * FROM (WITH d AS (DELETE FROM items RETURNING id) SELECT id FROM d) AS s", "sql:dml-in-cte"),
    ("EXPLAIN WITH d AS (DELETE FROM items RETURNING id) SELECT id FROM d", "sql:dml-in-cte"),
    # EXPLAIN of anything but a SELECT
    ("EXPLAIN ANALYZE DELETE FROM items", "sql:explain-target"),
    ("EXPLAIN (ANALYZE, BUFFERS) INSERT INTO items (name) VALUES ('x')", "sql:explain-target"),
    ("EXPLAIN ANALYZE UPDATE items SET price = 0", "sql:explain-target"),
    ("EXPLAIN ANALYZE CREATE TABLE stolen AS SELECT * FROM items", "sql:explain-target"),
    ("EXPLAIN EXECUTE wipe", "sql:explain-target"),
    # locking and SELECT INTO
    ("SELECT * FROM items FOR UPDATE", "sql:locking-clause"),
    ("SELECT * FROM items FOR SHARE", "sql:locking-clause"),
    ("SELECT * FROM items FOR NO KEY UPDATE SKIP LOCKED", "sql:locking-clause"),
    ("SELECT * FROM (SELECT * FROM items FOR KEY SHARE) AS s", "sql:locking-clause"),
    ("WITH l AS (SELECT id FROM items FOR UPDATE) SELECT * FROM l", "sql:locking-clause"),
    ("SELECT * INTO stolen FROM items", "sql:select-into"),
    ("EXPLAIN ANALYZE SELECT * INTO stolen FROM items", "sql:select-into"),
    # denied functions, wherever they hide
    ("SELECT pg_sleep(10)", "sql:denied-function:pg_sleep"),
    ("SELECT pg_catalog.pg_sleep(10)", "sql:denied-function:pg_sleep"),
    ("SELECT PG_CATALOG.PG_SLEEP(10)", "sql:denied-function:pg_sleep"),
    ('SELECT "pg_sleep"(10)', "sql:denied-function:pg_sleep"),
    ('SELECT U&"pg\\005fsleep"(10)', "sql:denied-function:pg_sleep"),
    ("SELECT * FROM items WHERE id IN (SELECT pg_sleep(10)::text::int)", "sql:denied-function:pg_sleep"),
    ("WITH s AS (SELECT pg_sleep(10)) SELECT * FROM s", "sql:denied-function:pg_sleep"),
    ("SELECT coalesce(pg_sleep_for('1 minute')::text, 'x')", "sql:denied-function:pg_sleep_for"),
    ("SELECT * FROM items CROSS JOIN LATERAL (SELECT pg_sleep(1)) AS z", "sql:denied-function:pg_sleep"),
    ("SELECT * FROM pg_sleep(1)", "sql:denied-function:pg_sleep"),
    ("SELECT * FROM items ORDER BY pg_sleep(0.1)::text", "sql:denied-function:pg_sleep"),
    ("EXPLAIN ANALYZE SELECT pg_sleep(5)", "sql:denied-function:pg_sleep"),
    ("SELECT lo_create(0)", "sql:denied-function:lo_create"),
    ("SELECT lo_import('/etc/passwd')", "sql:denied-function:lo_import"),
    ("SELECT lo_export(16384, '/tmp/x')", "sql:denied-function:lo_export"),
    ("SELECT set_config('statement_timeout', '0', false)", "sql:denied-function:set_config"),
    ("SELECT set_config('transaction_read_only', 'off', true)", "sql:denied-function:set_config"),
    ("SELECT pg_read_file('/etc/passwd')", "sql:denied-function:pg_read_file"),
    ("SELECT * FROM dblink('host=evil', 'DELETE FROM items') AS t(x text)", "sql:denied-function:dblink"),
    ("SELECT dblink_exec('dbname=app', 'DROP TABLE items')", "sql:denied-function:dblink_exec"),
    ("SELECT nextval('items_id_seq')", "sql:denied-function:nextval"),
    ("SELECT pg_advisory_lock(1)", "sql:denied-function:pg_advisory_lock"),
    ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity", "sql:denied-function:pg_terminate_backend"),
    ("SELECT query_to_xml('DELETE FROM items RETURNING *', true, true, '')", "sql:denied-function:query_to_xml"),
    # not SQL at all
    ("SELEC * FROM items", "sql:parse-error"),
    ("SELECT * FROM items WHERE (", "sql:parse-error"),
]

ACCEPTED: list[tuple[str, str]] = [
    ("SELECT 1", "sql:select"),
    ("SELECT id, name FROM items WHERE price > 10 ORDER BY id LIMIT 5", "sql:select"),
    ("WITH cheap AS (SELECT * FROM items WHERE price < 5) SELECT count(*) FROM cheap", "sql:select"),
    ("EXPLAIN SELECT * FROM items", "sql:explain"),
    ("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT * FROM items WHERE id = 3", "sql:explain"),
    ("SHOW work_mem", "sql:show"),
    (
        "SELECT i.name, o.qty FROM items i JOIN orders o ON o.item_id = i.id WHERE i.id = $1 AND o.qty > $2",
        "sql:select",
    ),
    ("/* why */ -- note\nSELECT count(*) FROM items;", "sql:select"),
    ("SELECT 'COMMIT; DROP TABLE items' AS looks_hostile", "sql:select"),
    ("SELECT 1 /* ; DELETE FROM items */", "sql:select"),
    ("VALUES (1, 'a'), (2, 'b')", "sql:select"),
    ("SELECT id FROM items UNION ALL SELECT item_id FROM orders", "sql:select"),
    ("SELECT current_setting('statement_timeout'), now(), lower(name) FROM items", "sql:select"),
]


@pytest.mark.parametrize(("sql", "rule"), HOSTILE, ids=[sql[:48] or "<empty>" for sql, _ in HOSTILE])
def test_hostile_sql_is_refused_under_the_named_rule(sql: str, rule: str) -> None:
    """Each hostile statement is refused, and the decision names the rule that caught it."""
    decision = check_sql(sql, RULES)
    assert not decision.allowed
    assert decision.rule == rule, decision.reason


@pytest.mark.parametrize(("sql", "rule"), HOSTILE, ids=[sql[:48] or "<empty>" for sql, _ in HOSTILE])
def test_every_refusal_reason_is_an_actionable_sentence(sql: str, rule: str) -> None:
    """A refusal carries a full sentence a model can act on, not a bare code."""
    reason = check_sql(sql, RULES).reason
    assert len(reason.split()) >= 5
    assert reason.rstrip().endswith(".")


def test_there_are_enough_hostile_cases() -> None:
    """The hostile list keeps at least 30 cases, so trimming it is a visible decision."""
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize(("sql", "rule"), ACCEPTED, ids=[sql[:48] for sql, _ in ACCEPTED])
def test_read_only_sql_is_accepted(sql: str, rule: str) -> None:
    """Plain reads — SELECT, WITH ... SELECT, EXPLAIN of a SELECT, SHOW, joins with $n params — pass."""
    decision = check_sql(sql, RULES)
    assert decision.allowed, decision.reason
    assert decision.rule == rule


def test_parse_error_carries_the_parsers_message() -> None:
    """A syntax error is refused with PostgreSQL's own message, so the model can fix its SQL."""
    decision = check_sql("SELEC 1", RULES)
    assert decision.rule == "sql:parse-error"
    assert 'syntax error at or near "SELEC"' in decision.reason


def test_statement_kinds_follow_the_rules() -> None:
    """A policy listing only 'select' refuses EXPLAIN and SHOW but still accepts SELECT."""
    rules = SqlRules(statements=["select"])
    assert check_sql("SELECT 1", rules).allowed
    assert check_sql("EXPLAIN SELECT 1", rules).rule == "sql:statement-kind"
    assert check_sql("SHOW work_mem", rules).rule == "sql:statement-kind"


def test_denied_functions_come_from_the_rules() -> None:
    """A denied entry (bare, qualified or a glob) refuses a call even when the allowlist would let it through."""
    anything = SqlRules(allowed_functions=["*"], denied_functions=[])
    assert check_sql("SELECT pg_sleep(1)", anything).allowed
    qualified = SqlRules(allowed_functions=["*"], denied_functions=["PG_CATALOG.PG_SLEEP"])
    assert check_sql("SELECT pg_catalog.pg_sleep(1)", qualified).rule == "sql:denied-function:pg_catalog.pg_sleep"
    assert check_sql("SELECT pg_sleep(1)", qualified).allowed
    globbed = SqlRules(allowed_functions=["*"], denied_functions=["dblink*"])
    assert check_sql("SELECT dblink_connect_u('x')", globbed).rule == "sql:denied-function:dblink_connect_u"
    assert check_sql("SELECT lower('x')", SqlRules(denied_functions=["lower"])).rule == "sql:denied-function:lower"


def test_only_allowlisted_functions_may_be_called() -> None:
    """Built-ins that only compute pass; volatile, extension and project functions need sql.allowed_functions."""
    rules = SqlRules()
    assert check_sql("SELECT lower(name), count(*), now(), random() FROM items GROUP BY 1", rules).allowed
    assert check_sql("SELECT pg_catalog.lower('A')", rules).allowed
    for sql, name in [
        ("SELECT pg_sleep(1)", "pg_sleep"),
        ("SELECT * FROM ts_stat('SELECT 1')", "ts_stat"),
        ("SELECT dblink_connect_u('c', 'dbname=x')", "dblink_connect_u"),
        ("SELECT app.slugify(name) FROM items", "app.slugify"),
        ("SELECT public.lower('A')", "public.lower"),  # not the built-in: whatever public.lower is
        ("SELECT agentd_test.pg_catalog.lower('A')", "agentd_test.pg_catalog.lower"),
    ]:
        assert check_sql(sql, rules).rule == f"sql:function-not-allowed:{name}", sql
    project = SqlRules(allowed_functions=["app.*"])
    assert check_sql("SELECT app.slugify(name) FROM items", project).allowed
    assert not check_sql("SELECT slugify(name) FROM items", project).allowed
    assert not check_sql("SELECT lower('A')", SqlRules(builtin_functions=False)).allowed


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT EXTRACT(year FROM now()), now() AT TIME ZONE 'UTC', date_trunc('day', now())",
        "SELECT substring('abc' FROM 2 FOR 1), trim(both ' ' FROM ' a '), position('b' IN 'abc'), overlay('abc' "
        "PLACING 'x' FROM 2)",
        "SELECT 'a' SIMILAR TO 'a', (now(), now()) OVERLAPS (now(), now()), 'a' IS NORMALIZED, COLLATION FOR ('a')",
        "SELECT coalesce(null, 1), nullif(1, 2), greatest(1, 2), CAST('1' AS int), current_date, current_user",
        "SELECT row_number() OVER (ORDER BY g), lag(g) OVER () FROM generate_series(1, 3) AS g",
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY g), mode() WITHIN GROUP (ORDER BY g) FROM "
        "generate_series(1, 3) AS g",
        "SELECT string_agg(x, ','), array_agg(x), json_agg(x), jsonb_build_object('a', 1) FROM unnest(ARRAY['a']) x",
        "SELECT pg_size_pretty(pg_total_relation_size('items')), pg_get_indexdef(indexrelid) FROM pg_index",
    ],
)
def test_everyday_sql_syntax_only_calls_allowlisted_functions(sql: str) -> None:
    """SQL syntax the parser turns into calls (EXTRACT, AT TIME ZONE, TRIM, OVERLAPS, windows...) stays allowed."""
    decision = check_sql(sql, RULES)
    assert decision.allowed, decision.reason


def test_function_names_gives_bare_and_qualified_names() -> None:
    """A qualified call is known by its bare and its dotted name, lower-cased."""
    statement = parse_sql("SELECT Pg_Catalog.Now()")[0].stmt
    assert statement is not None
    call = next(node for node in walk(statement) if isinstance(node, ast.FuncCall))
    assert function_names(call) == {"now", "pg_catalog.now"}


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1", True),
        ("WITH a AS (SELECT 1) SELECT * FROM a", True),
        ("SHOW work_mem", False),
        ("EXPLAIN SELECT 1", False),
        ("SELECT 1; SELECT 2", False),
        ("nonsense", False),
    ],
)
def test_is_select_recognises_one_select(sql: str, expected: bool) -> None:
    """is_select is true for exactly one SELECT-shaped statement and false otherwise."""
    assert is_select(sql) is expected
