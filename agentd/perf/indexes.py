"""Check an index suggestion against the real database, and write it as the project's next migration.

With HypoPG installed in the target database, a hypothetical index is created in a READ ONLY,
rolled-back session and the planner's cost is compared before and after: nothing is built and
nothing is written. Without HypoPG the table is copied into a TEMP table on a separate, writable
connection (READ ONLY transactions forbid CREATE TEMP TABLE), the index is built on the copy and
EXPLAIN ANALYZE times the query on the copy without and with it. That connection writes nothing
but its own temporary copy, which its transaction rolls back, and every measured statement runs
with transaction_read_only on, so the query itself can still write nothing persistent.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg import sql

from agentd.kernel.errors import AgentdError
from agentd.kernel.sqlguard import is_select
from agentd.kernel.worktree_files import WorktreeFiles
from agentd.perf.benchcmp import median
from agentd.perf.plans import IndexSuggestion, execution_ms, index_names, total_cost
from agentd.perf.sqlnames import quote_ident
from agentd.targetdb import CONNECT_OPTIONS, execute_read_only

Method = Literal["hypopg", "scratch"]
ANALYZE = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
PLAN = "EXPLAIN (FORMAT JSON) "
SCRATCH_NOTE = (
    "HypoPG is not installed, so the table was copied into a TEMP table on a separate writable connection "
    "(READ ONLY transactions forbid CREATE TEMP TABLE); the index was built on the copy, the query timed on the "
    "copy without and with it under transaction_read_only, and the transaction rolled back, dropping the copy."
)
HYPOPG_NOTE = (
    "HypoPG: a hypothetical index in a READ ONLY rolled-back session; costs are the planner's estimates, "
    "the 'before' timing is a real EXPLAIN ANALYZE, there is no 'after' timing because nothing was built."
)


class IndexCheckError(AgentdError):
    """An index could not be checked (not a SELECT, table too large to copy, database error)."""


@dataclass(frozen=True)
class PlanMeasure:
    """One plan of the query: the planner's cost, whether it uses the index, and timings if it ran."""

    plan: Any
    total_cost: float
    uses_index: bool
    timings_ms: tuple[float, ...] = ()

    @property
    def execution_ms(self) -> float | None:
        """The median execution time over the runs, or None when the plan was not executed."""
        return median(self.timings_ms) if self.timings_ms else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "total_cost": self.total_cost,
            "uses_index": self.uses_index,
            "execution_ms": self.execution_ms,
            "timings_ms": list(self.timings_ms),
            "plan": self.plan,
        }


@dataclass(frozen=True)
class IndexCheck:
    """Before and after an index, measured by `method`; `control` is the scratch copy without it."""

    index: IndexSuggestion
    method: Method
    before: PlanMeasure
    after: PlanMeasure
    note: str
    control: PlanMeasure | None = None

    @property
    def cost_ratio(self) -> float:
        """Planner cost after / before (below 1 is cheaper)."""
        baseline = self.control or self.before
        return self.after.total_cost / baseline.total_cost if baseline.total_cost else 1.0

    @property
    def speedup(self) -> float | None:
        """Measured time without / with the index, on the scratch copy; None for HypoPG."""
        if self.control is None or not self.control.execution_ms or not self.after.execution_ms:
            return None
        return self.control.execution_ms / self.after.execution_ms

    @property
    def improves(self) -> bool:
        """True when the plan uses the index and it is cheaper (HypoPG) or faster (scratch copy)."""
        if not self.after.uses_index:
            return False
        speedup = self.speedup
        return self.cost_ratio < 1 if speedup is None else speedup > 1

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "index": self.index.to_dict(),
            "method": self.method,
            "improves": self.improves,
            "cost_ratio": round(self.cost_ratio, 4),
            "speedup": None if self.speedup is None else round(self.speedup, 2),
            "before": self.before.to_dict(),
            "control": None if self.control is None else self.control.to_dict(),
            "after": self.after.to_dict(),
            "note": self.note,
        }


# ---------------------------------------------------------------- the edge: PostgreSQL


def hypopg_installed(dsn: str) -> bool:
    """True when the HypoPG extension is installed in the database the DSN names."""
    query = "SELECT count(*) FROM pg_catalog.pg_extension WHERE extname = 'hypopg'"
    outcome = execute_read_only(dsn, query, None, statement_timeout_ms=5000, max_rows=1)
    return bool(outcome.rows and outcome.rows[0][0])


def install_hypopg(dsn: str) -> bool:
    """CREATE EXTENSION IF NOT EXISTS hypopg; False when the role may not or the server lacks it."""
    try:
        with psycopg.connect(dsn, autocommit=True, **CONNECT_OPTIONS) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedFile, psycopg.errors.FeatureNotSupported):
        return False
    return True


def _measure(dsn: str, query: str, params: list[Any] | None, runs: int, timeout_ms: int, index: str) -> PlanMeasure:
    """EXPLAIN ANALYZE the query `runs` times through the read-only executor."""
    plans = [
        execute_read_only(dsn, ANALYZE + query, params, statement_timeout_ms=timeout_ms, max_rows=1).rows[0][0]
        for _ in range(runs)
    ]
    timings = tuple(value for plan in plans if (value := execution_ms(plan)) is not None)
    return PlanMeasure(plans[-1], total_cost(plans[-1]), index in index_names(plans[-1]), timings)


@contextmanager
def _session(dsn: str, *, read_only: bool, timeout_ms: int) -> Iterator[psycopg.Connection[Any]]:
    """One connection and one transaction that is always rolled back, with a statement deadline."""
    with psycopg.connect(dsn, autocommit=True, **CONNECT_OPTIONS) as conn:
        conn.read_only = read_only
        with conn.transaction(force_rollback=True):
            conn.execute("SELECT set_config('statement_timeout', %s, true)", [str(timeout_ms)])
            yield conn


def _explain(conn: psycopg.Connection[Any], statement: str, params: list[Any] | None) -> Any:
    with psycopg.RawCursor(conn) as cursor:
        cursor.execute(statement, params, prepare=True)
        row = cursor.fetchone()
    if row is None:
        raise IndexCheckError("EXPLAIN returned no plan")
    return row[0]


def _hypothetical(
    dsn: str, query: str, params: list[Any] | None, index: IndexSuggestion, timeout_ms: int
) -> PlanMeasure:
    with _session(dsn, read_only=True, timeout_ms=timeout_ms) as conn:
        columns = ", ".join(quote_ident(column) for column in index.columns)
        plain = f"CREATE INDEX ON {index.qualified_table} ({columns})"
        created = conn.execute("SELECT indexname FROM hypopg_create_index(%s)", [plain]).fetchone()
        if created is None:
            raise IndexCheckError(f"HypoPG did not create {plain}")
        plan = _explain(conn, PLAN + query, params)
        conn.execute("SELECT hypopg_reset()")
    return PlanMeasure(plan, total_cost(plan), str(created[0]) in index_names(plan))


def _scratch(
    dsn: str, query: str, params: list[Any] | None, index: IndexSuggestion, runs: int, timeout_ms: int, max_rows: int
) -> tuple[PlanMeasure, PlanMeasure]:
    """(without, with) the index, timed on a TEMP copy of the table; see the module docstring."""
    with _session(dsn, read_only=False, timeout_ms=timeout_ms) as conn:
        found = conn.execute(
            "SELECT n.nspname, c.relname, c.reltuples FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)",
            [index.qualified_table],
        ).fetchone()
        if found is None:
            raise IndexCheckError(f"no table {index.qualified_table}")
        schema, table, estimated_rows = found
        if estimated_rows > max_rows:
            raise IndexCheckError(
                f"{table} has about {estimated_rows:,.0f} rows; copying more than {max_rows:,} is refused"
            )
        source = sql.Identifier(schema, table)
        conn.execute(sql.SQL("CREATE TEMP TABLE {} AS SELECT * FROM {}").format(sql.Identifier(table), source))
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))  # autovacuum never analyses temp tables
        local_query = _shadow(query, schema, table)
        conn.execute("SAVEPOINT agentd_before")
        without = _timed(conn, local_query, params, runs, index.name)
        conn.execute("ROLLBACK TO SAVEPOINT agentd_before")  # back to read-write, to build the index
        columns = sql.SQL(", ").join(sql.Identifier(column) for column in index.columns)
        create = sql.SQL("CREATE INDEX {} ON {} ({})").format(
            sql.Identifier(index.name), sql.Identifier(table), columns
        )
        conn.execute(create)
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
        with_index = _timed(conn, local_query, params, runs, index.name)
    return without, with_index


def _timed(conn: psycopg.Connection[Any], query: str, params: list[Any] | None, runs: int, index: str) -> PlanMeasure:
    conn.execute("SET LOCAL transaction_read_only = on")  # the measured query may write nothing persistent
    plans = [_explain(conn, ANALYZE + query, params) for _ in range(runs)]
    timings = tuple(value for plan in plans if (value := execution_ms(plan)) is not None)
    return PlanMeasure(plans[-1], total_cost(plans[-1]), index in index_names(plans[-1]), timings)


def _shadow(query: str, schema: str, table: str) -> str:
    """The query reading pg_temp's copy: unqualified names already resolve to it, qualified ones are rewritten."""
    name = rf'(?:{re.escape(schema)}|"{re.escape(schema)}")\s*\.\s*(?:{re.escape(table)}|"{re.escape(table)}")'
    return re.sub(rf"(?<![\w$\"]){name}(?![\w$])", f"pg_temp.{quote_ident(table)}", query, flags=re.IGNORECASE)


def check_index(
    dsn: str,
    query: str,
    index: IndexSuggestion,
    params: list[Any] | None = None,
    *,
    method: Literal["auto", "hypopg", "scratch"] = "auto",
    runs: int = 3,
    statement_timeout_ms: int = 60_000,
    max_copy_rows: int = 5_000_000,
) -> IndexCheck:
    """Measure the query before and after the index: HypoPG when installed (or asked), else a scratch copy."""
    if not is_select(query):
        raise IndexCheckError("check_index measures one SELECT; the statement is something else")
    chosen: Method = method if method != "auto" else ("hypopg" if hypopg_installed(dsn) else "scratch")
    try:
        before = _measure(dsn, query, params, runs, statement_timeout_ms, index.name)
        if chosen == "hypopg":
            after = _hypothetical(dsn, query, params, index, statement_timeout_ms)
            return IndexCheck(index, "hypopg", before, after, HYPOPG_NOTE)
        control, after = _scratch(dsn, query, params, index, runs, statement_timeout_ms, max_copy_rows)
    except psycopg.Error as exc:
        raise IndexCheckError(f"checking {index.name} failed: {exc}") from exc
    return IndexCheck(index, "scratch", before, after, SCRATCH_NOTE, control)


# ---------------------------------------------------------------- migrations

Style = Literal["golang-migrate", "goose", "flyway", "plain"]
SKIPPED = frozenset({".git", "vendor", "node_modules"})
MAX_MIGRATION_SCAN = 50_000  # entries walked looking for migrations; a bigger tree is hostile or generated
GOOSE_HEAD_BYTES = 64 * 1024  # goose's annotations sit at the top of a file
_MIGRATE = re.compile(r"^(\d+)_(.+)\.(up|down)\.sql$")
_FLYWAY = re.compile(r"^V(\d+)(?:[._]\d+)*__(.+)\.sql$")
_NUMBERED = re.compile(r"^(\d+)([_-])(.+)\.sql$")
_TIMESTAMP_DIGITS = {14: "%Y%m%d%H%M%S", 12: "%Y%m%d%H%M"}


@dataclass(frozen=True)
class Convention:
    """How a repository names its migrations: where, which tool's style, and the highest number so far."""

    directory: str
    style: Style
    width: int
    separator: str
    highest: int

    @property
    def timestamped(self) -> bool:
        """True when the numbers are timestamps (YYYYMMDDhhmm[ss]) rather than a sequence."""
        return self.width in _TIMESTAMP_DIGITS and str(self.highest).startswith(("19", "20"))

    def next_number(self, now: datetime) -> str:
        """The next file's number: the next in sequence, or now (but after the highest) for timestamps."""
        if self.timestamped:
            stamp = int(now.strftime(_TIMESTAMP_DIGITS[self.width]))
            return str(max(stamp, self.highest + 1))
        return str(self.highest + 1).zfill(self.width)


DEFAULT_CONVENTION = Convention("migrations", "plain", 4, "_", 0)


def _classify(names: list[str], head: Callable[[str], str]) -> Convention | None:
    """The convention of one directory's .sql files (`head` gives the start of one), or None when they follow none."""
    migrate = [m for name in names if (m := _MIGRATE.match(name))]
    if migrate:
        numbers = [m.group(1) for m in migrate]
        return Convention("", "golang-migrate", len(max(numbers, key=int)), "_", max(map(int, numbers)))
    flyway = [m for name in names if (m := _FLYWAY.match(name))]
    if flyway:
        return Convention("", "flyway", 0, "__", max(int(m.group(1)) for m in flyway))
    numbered = [(m, name) for name in names if (m := _NUMBERED.match(name))]
    if not numbered:
        return None
    numbers = [m.group(1) for m, _ in numbered]
    goose = any("+goose Up" in head(name) for _, name in numbered)
    separator = max(("_", "-"), key=lambda sep: sum(m.group(2) == sep for m, _ in numbered))
    return Convention("", "goose" if goose else "plain", len(max(numbers, key=int)), separator, max(map(int, numbers)))


def _sql_folders(files: WorktreeFiles) -> dict[str, list[str]]:
    """The .sql files (regular, no link followed) at most four directories deep, by directory."""
    folders: dict[str, list[str]] = {}
    for seen, entry in enumerate(files.walk(skip=SKIPPED, max_depth=4)):
        if seen >= MAX_MIGRATION_SCAN:
            break
        if entry.regular and entry.name.endswith(".sql"):
            folders.setdefault(posixpath.dirname(entry.path) or ".", []).append(entry.name)
    return folders


def _head(files: WorktreeFiles, folder: str, name: str) -> str:
    try:
        return files.read(f"{folder}/{name}", GOOSE_HEAD_BYTES)[:GOOSE_HEAD_BYTES].decode("utf-8", errors="replace")
    except OSError:
        return ""


def detect_convention(repo_root: Path) -> Convention:
    """The migration convention of the directory holding the most migration files; the default when none.

    The worktree is untrusted: it is read through agentd.kernel.worktree_files (no link followed,
    regular files only, only the head of a file).
    """
    files = WorktreeFiles(repo_root)
    best: tuple[int, Convention] | None = None
    for directory, names in sorted(_sql_folders(files).items()):
        convention = _classify(sorted(names), partial(_head, files, directory))
        if convention is not None and (best is None or len(names) > best[0]):
            best = (len(names), replace(convention, directory=directory))
    return best[1] if best else DEFAULT_CONVENTION


def migration_files(index: IndexSuggestion, repo_root: Path, now: datetime | None = None) -> list[tuple[Path, str]]:
    """The migration file(s) adding the index in the repository's convention: [(path, sql)], up first."""
    convention = detect_convention(repo_root)
    number = convention.next_number(now or datetime.now(UTC))
    name = f"add_{index.name}"
    folder = Path(convention.directory)
    header = f"-- Adds {index.name} on {index.qualified_table} ({', '.join(index.columns)}), checked by agentd.\n"
    create = index.create_sql(concurrently=True)
    drop = f"DROP INDEX CONCURRENTLY IF EXISTS {quote_ident(index.name)};\n"
    if convention.style == "golang-migrate":
        return [
            (folder / f"{number}_{name}.up.sql", f"{header}{create};\n"),
            (folder / f"{number}_{name}.down.sql", drop),
        ]
    if convention.style == "goose":
        text = f"-- +goose NO TRANSACTION\n{header}-- +goose Up\n{create};\n\n-- +goose Down\n{drop}"
        return [(folder / f"{number}_{name}.sql", text)]
    if convention.style == "flyway":
        plain = index.create_sql()  # Flyway runs each file in a transaction: no CONCURRENTLY
        return [(folder / f"V{convention.highest + 1}__{name}.sql", f"{header}{plain};\n")]
    plain = index.create_sql()  # runners of plain files often wrap them in a transaction
    return [(folder / f"{number}{convention.separator}{name}.sql", f"{header}{plain};\n")]


def migration_for(index: IndexSuggestion, repo_root: Path, now: datetime | None = None) -> tuple[Path, str]:
    """The (path relative to repo_root, SQL) of the migration that adds the index."""
    return migration_files(index, repo_root, now)[0]


def write_migration(index: IndexSuggestion, repo_root: Path, now: datetime | None = None) -> list[Path]:
    """Write the migration file(s) under repo_root, through no symlink; refuses to overwrite; returns the paths."""
    files = migration_files(index, repo_root, now)
    worktree = WorktreeFiles(repo_root)
    for path, _ in files:
        if worktree.kind(path.as_posix()) is not None:
            raise IndexCheckError(f"{path} already exists")
    for path, text in files:
        try:
            worktree.write(path.as_posix(), text.encode(), new=True)
        except OSError as exc:
            raise IndexCheckError(f"cannot write {path}: {exc}") from None
    return [path for path, _ in files]
