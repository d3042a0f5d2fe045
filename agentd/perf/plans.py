"""Read EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) plans and say what is slow in them, and why.

A pure analyser over the JSON PostgreSQL prints. It finds sequential scans of large tables behind
selective filters, row estimates off by an order of magnitude, sorts, hashes and aggregates that
spill to disk, and nested loops over large inputs; each finding names the node, the relation,
the numbers that triggered it and a suggestion (an index on the filtered columns, statistics,
work_mem). Row counts are totals over loops: PostgreSQL reports per-loop averages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from agentd.perf.sqlnames import calls_function, filter_columns, quote_ident

FindingKind = Literal["seq_scan", "misestimate", "disk_spill", "nested_loop"]
Node = Mapping[str, Any]
BLOCK_BYTES = 8192
INDEXED_SCANS = {"Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Memoize"}
PASS_THROUGH = {"Materialize", "Memoize", "Gather", "Gather Merge", "Hash"}

@dataclass(frozen=True)
class PlanThresholds:
    """When a plan node counts as a problem."""

    large_table_rows: int = 10_000  # a sequential scan of fewer rows is cheap enough
    selectivity: float = 10.0  # rows removed by the filter per row returned
    misestimate: float = 10.0  # estimated vs actual rows, either way
    misestimate_min_rows: int = 100  # ignore misestimates where both sides are tiny
    nested_loop_rows: int = 10_000  # outer rows of a nested loop whose inner side is not indexed


@dataclass(frozen=True)
class IndexSuggestion:
    """A B-tree index to try: a table and its columns, equality-filtered columns first."""

    table: str
    columns: tuple[str, ...]
    schema: str | None = None

    @property
    def name(self) -> str:
        """A conventional name, idx_<table>_<columns>, within PostgreSQL's 63 bytes."""
        raw = "_".join(["idx", self.table, *self.columns])
        return re.sub(r"[^a-z0-9_]+", "_", raw.lower()).strip("_")[:63]

    @property
    def qualified_table(self) -> str:
        """The table as SQL names it, schema-qualified when the plan said which schema."""
        table = quote_ident(self.table)
        return f"{quote_ident(self.schema)}.{table}" if self.schema else table

    def create_sql(self, *, concurrently: bool = False, if_not_exists: bool = True) -> str:
        """CREATE INDEX [CONCURRENTLY] [IF NOT EXISTS] name ON table (columns) — without a semicolon."""
        words = ["CREATE INDEX"]
        if concurrently:
            words.append("CONCURRENTLY")
        if if_not_exists:
            words.append("IF NOT EXISTS")
        columns = ", ".join(quote_ident(column) for column in self.columns)
        return f"{' '.join(words)} {quote_ident(self.name)} ON {self.qualified_table} ({columns})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {"table": self.table, "schema": self.schema, "columns": list(self.columns), "sql": self.create_sql()}


@dataclass(frozen=True)
class Finding:
    """One problem in a plan: the node, its relation, the numbers that show it, and what to try."""

    kind: FindingKind
    node_type: str
    relation: str | None
    numbers: dict[str, float]
    message: str
    suggestion: str
    index: IndexSuggestion | None = None
    path: tuple[int, ...] = field(default=())  # child indexes from the root to the node

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "kind": self.kind,
            "node_type": self.node_type,
            "relation": self.relation,
            "numbers": self.numbers,
            "message": self.message,
            "suggestion": self.suggestion,
            "index": None if self.index is None else self.index.to_dict(),
        }


# ---------------------------------------------------------------- plan shape


def root_plan(explain: Any) -> Node:
    """The top plan node of EXPLAIN JSON output: accepts the list, its first element, or a node."""
    if isinstance(explain, list):
        if not explain:
            raise ValueError("empty EXPLAIN output")
        explain = explain[0]
    if isinstance(explain, Mapping) and "Plan" in explain:
        explain = explain["Plan"]
    if not isinstance(explain, Mapping) or "Node Type" not in explain:
        raise ValueError("not EXPLAIN (FORMAT JSON) output: no 'Plan' with a 'Node Type'")
    return explain


def execution_ms(explain: Any) -> float | None:
    """The 'Execution Time' of EXPLAIN ANALYZE output, in milliseconds (None for a plain plan)."""
    top = explain[0] if isinstance(explain, list) and explain else explain
    value = top.get("Execution Time") if isinstance(top, Mapping) else None
    return float(value) if value is not None else None


def total_cost(explain: Any) -> float:
    """The planner's total cost of the whole plan."""
    return float(root_plan(explain)["Total Cost"])


def walk(node: Node, path: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], Node]]:
    """Every node of the plan, depth first, with its path of child indexes."""
    yield path, node
    for index, child in enumerate(node.get("Plans", [])):
        yield from walk(child, (*path, index))


def index_names(explain: Any) -> set[str]:
    """The names of every index the plan uses."""
    return {str(node["Index Name"]) for _, node in walk(root_plan(explain)) if "Index Name" in node}


def _loops(node: Node) -> float:
    return float(node.get("Actual Loops", 0) or 0)


def _total(node: Node, key: str) -> float:
    return float(node.get(key, 0) or 0) * _loops(node)


def _executed(node: Node) -> bool:
    return "Actual Rows" in node and _loops(node) > 0


# ---------------------------------------------------------------- the rules


def analyze_plan(explain: Any, thresholds: PlanThresholds | None = None) -> list[Finding]:
    """Every finding in an EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) plan, in plan order."""
    limits = thresholds or PlanThresholds()
    findings: list[Finding] = []
    for path, node in walk(root_plan(explain)):
        for rule in (_seq_scan, _misestimate, _disk_spill, _nested_loop):
            finding = rule(node, limits)
            if finding is not None:
                findings.append(replace(finding, path=path))
    return findings


def _seq_scan(node: Node, limits: PlanThresholds) -> Finding | None:
    if node.get("Node Type") != "Seq Scan" or not _executed(node) or not node.get("Filter"):
        return None
    relation = str(node.get("Relation Name", ""))
    returned = _total(node, "Actual Rows")
    removed = _total(node, "Rows Removed by Filter")
    # a parallel scan's loops share the table; a plain scan reads all of it in every loop
    table_rows = (returned + removed) / (1 if node.get("Parallel Aware") else max(_loops(node), 1))
    if table_rows < limits.large_table_rows or removed < limits.selectivity * max(returned, 1):
        return None
    expression = str(node["Filter"])
    columns = filter_columns(expression, node.get("Alias"))
    index = IndexSuggestion(relation, tuple(columns), node.get("Schema")) if columns else None
    numbers = {
        "rows_returned": returned,
        "rows_removed_by_filter": removed,
        "table_rows": table_rows,
        "loops": _loops(node),
        "actual_total_ms": float(node.get("Actual Total Time", 0.0)),
    }
    message = (
        f"Seq Scan on {relation} reads {table_rows:,.0f} rows and its filter {expression} "
        f"discards {removed:,.0f} of them to return {returned:,.0f}"
    )
    if index is None:
        suggestion = "the filter names no plain column; an expression index matching it may help"
    else:
        suggestion = f"index {relation} ({', '.join(columns)}) so PostgreSQL finds the rows without reading the table"
        if calls_function(expression):
            suggestion += "; the filter applies a function, so index that expression rather than the bare column"
    return Finding("seq_scan", "Seq Scan", relation, numbers, message, suggestion, index)


def _estimate_factor(node: Node) -> float:
    """How far off the row estimate is: > 1 overestimated, < 1 underestimated, 1 when not run."""
    if not _executed(node):
        return 1.0
    return max(float(node.get("Plan Rows", 0)) * _loops(node), 1.0) / max(_total(node, "Actual Rows"), 1.0)


def _misestimate(node: Node, limits: PlanThresholds) -> Finding | None:
    factor = _estimate_factor(node)
    if max(factor, 1 / factor) < limits.misestimate:
        return None
    estimated, actual = float(node.get("Plan Rows", 0)) * _loops(node), _total(node, "Actual Rows")
    if max(estimated, actual) < limits.misestimate_min_rows:
        return None
    for child in node.get("Plans", []):
        below = _estimate_factor(child)
        if max(below, 1 / below) >= limits.misestimate and (below > 1) == (factor > 1):
            return None  # the error comes from below: report it where it starts
    node_type, relation = str(node.get("Node Type")), node.get("Relation Name")
    numbers = {
        "estimated_rows": estimated,
        "actual_rows": actual,
        "factor": round(max(factor, 1 / factor), 1),
        "loops": _loops(node),
    }
    message = (
        f"{node_type}{f' on {relation}' if relation else ''}: the planner "
        f"{'over' if factor > 1 else 'under'}estimated the rows {numbers['factor']:.0f}x "
        f"({estimated:,.0f} expected, {actual:,.0f} actual)"
    )
    condition = str(node.get("Filter") or node.get("Index Cond") or node.get("Recheck Cond") or "")
    return Finding("misestimate", node_type, relation, numbers, message, _statistics_advice(relation, condition, node))


def _statistics_advice(relation: str | None, condition: str, node: Node) -> str:
    if not relation or not condition:
        return "ANALYZE the tables involved; a wrong join estimate often comes from correlated join columns"
    columns = filter_columns(condition, node.get("Alias"))
    advice = f"run ANALYZE {relation}; "
    if calls_function(condition):
        return advice + (
            f"the condition {condition} applies an expression the planner has no statistics for: "
            "an expression index or CREATE STATISTICS on that expression gives it some"
        )
    if len(columns) > 1:
        listed = ", ".join(columns)
        return advice + f"if {listed} are correlated, CREATE STATISTICS (dependencies, mcv) ON {listed} FROM {relation}"
    column = columns[0] if columns else "the filtered column"
    return advice + f"raise the statistics target: ALTER TABLE {relation} ALTER COLUMN {column} SET STATISTICS 1000"


def _temp_blocks(node: Node) -> float:
    """Temporary blocks this node wrote itself (BUFFERS counts include the children's)."""
    own = float(node.get("Temp Written Blocks", 0) or 0)
    children = sum(float(child.get("Temp Written Blocks", 0) or 0) for child in node.get("Plans", []))
    return max(own - children, 0.0)


def _hash_batches(node: Node) -> int:
    return int(node.get("Hash Batches", 1) or 1) if node.get("Node Type") == "Hash" else 1


def _spill(node: Node) -> tuple[dict[str, float], str, float] | None:
    """(numbers, what happened, kB it needed) when the node spilled to disk."""
    node_type = str(node.get("Node Type"))
    if node_type == "Sort" and (node.get("Sort Space Type") == "Disk" or "external" in str(node.get("Sort Method"))):
        used = float(node.get("Sort Space Used", 0))
        keys = ", ".join(node.get("Sort Key", []))
        return {"sort_space_kb": used}, f"Sort ({node.get('Sort Method')}) on {keys} wrote {used:,.0f} kB to disk", used
    if _hash_batches(node) > 1:
        batches, peak = float(node["Hash Batches"]), float(node.get("Peak Memory Usage", 0))
        numbers = {
            "hash_batches": batches,
            "original_hash_batches": float(node.get("Original Hash Batches", batches)),
            "peak_memory_kb": peak,
        }
        return numbers, f"Hash split its table into {batches:.0f} batches on disk ({peak:,.0f} kB each)", peak * batches
    if int(node.get("HashAgg Batches", 0) or 0) > 1 or float(node.get("Disk Usage", 0) or 0) > 0:
        disk, batches = float(node.get("Disk Usage", 0)), float(node.get("HashAgg Batches", 0))
        numbers = {"hashagg_batches": batches, "disk_usage_kb": disk}
        return numbers, f"{node_type} spilled {disk:,.0f} kB to disk in {batches:.0f} batches", disk
    blocks = _temp_blocks(node)
    if blocks > 0 and not any(_hash_batches(child) > 1 for child in node.get("Plans", [])):
        kilobytes = blocks * BLOCK_BYTES / 1024
        return {"temp_written_blocks": blocks}, f"{node_type} wrote {kilobytes:,.0f} kB of temporary files", kilobytes
    return None


def _disk_spill(node: Node, _limits: PlanThresholds) -> Finding | None:
    spilled = _spill(node)
    if spilled is None:
        return None
    numbers, message, needed_kb = spilled
    node_type, relation = str(node.get("Node Type")), _scan_relation(node)
    megabytes = max(4, int(needed_kb * 2 / 1024) + 1)
    suggestion = f"work_mem is too small for this step; SET LOCAL work_mem = '{megabytes}MB' would keep it in memory"
    if node_type == "Sort" and relation:
        suggestion += f", or an index on {relation} matching the sort key returns the rows already ordered"
    else:
        suggestion += ", or filter rows earlier so fewer reach it"
    return Finding("disk_spill", node_type, relation, numbers, message, suggestion)


def _scan_relation(node: Node) -> str | None:
    """The relation a node reads, looking through single-input nodes (Sort, Hash, Materialize...)."""
    current: Node | None = node
    while current is not None:
        if "Relation Name" in current:
            return str(current["Relation Name"])
        children = current.get("Plans", [])
        current = children[0] if len(children) == 1 else None
    return None


def _inner_scan(node: Node) -> Node:
    current = node
    while current.get("Node Type") in PASS_THROUGH and current.get("Plans"):
        current = current["Plans"][0]
    return current


def _nested_loop(node: Node, limits: PlanThresholds) -> Finding | None:
    children = node.get("Plans", [])
    if node.get("Node Type") != "Nested Loop" or len(children) != 2 or not _executed(node):
        return None
    outer, inner = children
    scan = _inner_scan(inner)
    outer_rows = _total(outer, "Actual Rows")
    if outer_rows < limits.nested_loop_rows or {inner.get("Node Type"), scan.get("Node Type")} & INDEXED_SCANS:
        return None
    relation = scan.get("Relation Name")
    removed = _total(node, "Rows Removed by Join Filter")
    numbers = {
        "outer_rows": outer_rows,
        "inner_loops": _loops(inner),
        "rows_removed_by_join_filter": removed,
        "actual_total_ms": float(node.get("Actual Total Time", 0.0)),
    }
    join_filter = str(node.get("Join Filter") or scan.get("Filter") or "")
    columns = filter_columns(join_filter, scan.get("Alias")) if join_filter else []
    index = IndexSuggestion(str(relation), tuple(columns), scan.get("Schema")) if relation and columns else None
    message = (
        f"Nested Loop runs its inner side ({inner.get('Node Type')}{f' on {relation}' if relation else ''}) "
        f"{_loops(inner):,.0f} times for {outer_rows:,.0f} outer rows"
    )
    if removed:
        message += f", discarding {removed:,.0f} row pairs in the join filter {join_filter}"
    if index is not None:
        suggestion = f"index {relation} ({', '.join(columns)}) so each inner pass becomes an index lookup"
    else:
        suggestion = "give the join an equality condition PostgreSQL can hash or merge, or index the inner join columns"
    return Finding("nested_loop", "Nested Loop", relation, numbers, message, suggestion, index)
