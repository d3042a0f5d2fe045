"""Which PostgreSQL functions query_database may call: the built-ins that only compute, by a stated rule.

A denylist can never name every function that acts (a new release, an extension such as dblink,
a built-in that runs a SQL string such as ts_stat); so the guard allows a call only when its
function is listed. `policies/sql_functions.txt` lists the pg_catalog functions for which every
overload passes `allowed_names` below, applied to a real PostgreSQL's pg_proc by
`scripts/sql_functions.py` (tests/kernel/test_sql_functions.py re-derives it from PostgreSQL 15).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import NamedTuple

LIST_FILE = "sql_functions.txt"

# One row per pg_catalog overload: name, volatility, kind, return type and argument types.
CATALOG_QUERY = """
SELECT p.proname, p.provolatile, p.prokind, p.prorettype::regtype::text,
       ARRAY(SELECT t::regtype::text FROM unnest(p.proargtypes::oid[]) AS t)
FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
WHERE n.nspname = 'pg_catalog'
"""

# Volatile functions that only read or compute: allowed although the catalog marks them volatile.
READ_ONLY_VOLATILE = frozenset(
    {
        "random",
        "clock_timestamp",
        "timeofday",
        "gen_random_uuid",
        "pg_relation_size",
        "pg_table_size",
        "pg_total_relation_size",
        "pg_indexes_size",
        "pg_database_size",
        "pg_tablespace_size",
        "pg_is_in_recovery",
        "pg_blocking_pids",
        "pg_partition_tree",
        "pg_partition_ancestors",
        "pg_lock_status",
        "pg_jit_available",
    }
)
# Stable functions that still act: they run SQL of their own, or assign a transaction id.
ACTING_STABLE = frozenset(
    {
        "table_to_xml",
        "table_to_xmlschema",
        "table_to_xml_and_xmlschema",
        "schema_to_xml",
        "schema_to_xmlschema",
        "schema_to_xml_and_xmlschema",
        "database_to_xml",
        "database_to_xmlschema",
        "database_to_xml_and_xmlschema",
        "txid_current",
        "txid_current_if_assigned",
        "pg_current_xact_id",
        "pg_current_xact_id_if_assigned",
    }
)
# Types no query has a use for: functions taking or returning them are planner, index or trigger plumbing.
PLUMBING_TYPES = frozenset(
    {
        "internal",
        "trigger",
        "event_trigger",
        "language_handler",
        "fdw_handler",
        "index_am_handler",
        "table_am_handler",
        "tsm_handler",
    }
)


class Overload(NamedTuple):
    """One pg_proc row as CATALOG_QUERY returns it."""

    name: str
    volatility: str  # i immutable, s stable, v volatile
    kind: str  # f function, a aggregate, w window, p procedure
    returns: str
    arguments: list[str]


def _computes_only(overload: Overload) -> bool:
    if overload.kind == "p" or overload.name in ACTING_STABLE:
        return False
    if overload.volatility == "v" and overload.name not in READ_ONLY_VOLATILE:
        return False
    return not PLUMBING_TYPES.intersection([overload.returns, *overload.arguments])


def allowed_names(overloads: Iterable[Overload]) -> list[str]:
    """The names all of whose overloads only compute: not volatile (bar READ_ONLY_VOLATILE), not ACTING_STABLE,
    not a procedure, no plumbing type. The guard sees a name, not argument types, so one bad overload bars it."""
    verdicts: dict[str, bool] = {}
    for overload in overloads:
        verdicts[overload.name] = verdicts.get(overload.name, True) and _computes_only(overload)
    return sorted(name for name, good in verdicts.items() if good)


@cache
def builtin_functions() -> frozenset[str]:
    """The names in the shipped policies/sql_functions.txt (comment lines start with #)."""
    text = resources.files("policies").joinpath(LIST_FILE).read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))
