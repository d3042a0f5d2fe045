"""The SQL function allowlist: its rule over plain rows, and the shipped list against a real PostgreSQL 15's pg_proc."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from agentd.kernel.policy import SqlRules, load_policy
from agentd.kernel.sqlfunctions import CATALOG_QUERY, Overload, allowed_names, builtin_functions
from agentd.kernel.sqlguard import check_sql
from tests.support.postgres import superuser_dsn

RULES = load_policy().sql
# What a function that runs SQL handed to it looks like in pg_proc: an input argument of a text type named so.
RUNS_A_STRING = """
SELECT DISTINCT n.nspname, p.proname
FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace,
     unnest(p.proargnames, p.proargtypes::oid[]) AS a(name, type)
WHERE a.name ~* '^(query|sql|stmt|statement|command|cursor)' AND a.type IN ('text'::regtype, 'refcursor'::regtype)
"""
KNOWN = """
SELECT DISTINCT n.nspname, p.proname
FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
WHERE p.proname IN ('ts_stat', 'ts_rewrite') OR p.proname ~ '^(query|cursor|table|schema|database)_to_xml'
   OR p.proname ~ '^(dblink|pg_advisory|pg_try_advisory)'
"""


def test_one_acting_overload_bars_the_name() -> None:
    """A name is allowed only when every overload only computes: ts_rewrite's SQL-running overload bars it."""
    rows = [
        Overload("lower", "i", "f", "text", ["text"]),
        Overload("ts_rewrite", "i", "f", "tsquery", ["tsquery", "tsquery", "tsquery"]),
        Overload("ts_rewrite", "v", "f", "tsquery", ["tsquery", "text"]),
        Overload("random", "v", "f", "double precision", []),
        Overload("table_to_xml", "s", "f", "xml", ["regclass", "boolean", "boolean", "text"]),
        Overload("int8_accum", "i", "f", "internal", ["internal", "bigint"]),
        Overload("some_proc", "v", "p", "void", []),
    ]
    assert allowed_names(rows) == ["lower", "random"]


@pytest.fixture(scope="module")
def catalog(postgres_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """A superuser connection to a fresh database with dblink installed, dropped afterwards."""
    admin = superuser_dsn(postgres_dsn, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS agentd_sql_functions")
        conn.execute("CREATE DATABASE agentd_sql_functions")
    with psycopg.connect(superuser_dsn(postgres_dsn, dbname="agentd_sql_functions"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION dblink")
        yield conn
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE agentd_sql_functions WITH (FORCE)")


@pytest.mark.postgres
def test_the_shipped_list_is_the_rule_applied_to_postgresql_15(catalog: psycopg.Connection[Any]) -> None:
    """policies/sql_functions.txt is exactly what the rule makes of PostgreSQL 15's pg_catalog."""
    version = catalog.execute("SHOW server_version_num").fetchone()
    assert version is not None and str(version[0]).startswith("15")
    rows = [Overload(*row) for row in catalog.execute(CATALOG_QUERY).fetchall()]
    assert allowed_names(rows) == sorted(builtin_functions()), "regenerate it: scripts/sql_functions.py DSN"


@pytest.mark.postgres
def test_every_function_that_runs_sql_or_locks_is_refused(catalog: psycopg.Connection[Any]) -> None:
    """Each function of PostgreSQL 15 (with dblink) that runs a SQL string, reaches another database or takes an
    advisory lock is refused: by the allowlist, and by the deny globs alone with the allowlist opened to all."""
    found = {tuple(row) for query in (RUNS_A_STRING, KNOWN) for row in catalog.execute(query).fetchall()}
    names = {name for _schema, name in found}
    assert {"ts_stat", "ts_rewrite", "query_to_xml_and_xmlschema", "cursor_to_xml", "table_to_xml"} <= names
    assert {"dblink", "dblink_exec", "dblink_connect_u", "dblink_send_query", "dblink_open"} <= names
    assert {"pg_advisory_lock_shared", "pg_try_advisory_lock", "pg_advisory_unlock_all"} <= names
    opened = SqlRules(allowed_functions=["*"], denied_functions=RULES.denied_functions)
    for schema, name in sorted(found):
        for statement in (f"SELECT {name}()", f"SELECT * FROM {schema}.{name}()"):
            assert not check_sql(statement, RULES).allowed, statement
            assert check_sql(statement, opened).rule.startswith("sql:denied-function:"), statement
