"""The EXPLAIN analyser on real PostgreSQL 15 plans: what it finds, the numbers, and what it suggests."""

from __future__ import annotations

import copy

import pytest

from agentd.perf.plans import (
    IndexSuggestion,
    PlanThresholds,
    analyze_plan,
    execution_ms,
    index_names,
    root_plan,
    total_cost,
)
from agentd.perf.sqlnames import filter_columns, quote_ident
from tests.perf.conftest import load_plan


def test_selective_seq_scan_on_large_table_suggests_index_on_filter_columns() -> None:
    """A parallel Seq Scan of a million rows returning 21: reported with the filter's columns as the index."""
    (finding,) = analyze_plan(load_plan("plan_seq_scan.json"))
    assert (finding.kind, finding.node_type, finding.relation) == ("seq_scan", "Seq Scan", "orders")
    assert finding.numbers["table_rows"] == pytest.approx(1_000_000, rel=0.001)
    assert finding.numbers["rows_removed_by_filter"] == 999_981
    assert finding.numbers["rows_returned"] == 21  # per-loop averages (7 x 3 loops), as PostgreSQL rounds them
    assert finding.index == IndexSuggestion("orders", ("customer_email", "status"))
    assert finding.index.create_sql() == (
        "CREATE INDEX IF NOT EXISTS idx_orders_customer_email_status ON orders (customer_email, status)"
    )
    assert "customer_email, status" in finding.suggestion
    assert finding.path == (0,)


def test_small_or_unselective_scans_are_not_findings() -> None:
    """The same scan is no finding when the table is below the size threshold or the filter keeps most rows."""
    plan = load_plan("plan_seq_scan.json")
    assert analyze_plan(plan, PlanThresholds(large_table_rows=2_000_000)) == []
    scan = plan[0]["Plan"]["Plans"][0]
    scan["Rows Removed by Filter"], scan["Actual Rows"] = 1000, 300_000
    assert "seq_scan" not in [f.kind for f in analyze_plan(plan)]


def test_external_sort_is_a_disk_spill() -> None:
    """Sort Method 'external merge' is reported with the kB written and a work_mem that would fit it."""
    (finding,) = analyze_plan(load_plan("plan_sort_spill.json"))
    assert (finding.kind, finding.node_type, finding.relation) == ("disk_spill", "Sort", "orders")
    assert finding.numbers["sort_space_kb"] > 1000
    assert "external merge" in finding.message
    assert "SET LOCAL work_mem" in finding.suggestion
    assert "sort key" in finding.suggestion


def test_hash_with_batches_is_a_disk_spill_reported_once() -> None:
    """Hash Batches > 1 is reported on the Hash node, not again on the join that reads the batches."""
    findings = analyze_plan(load_plan("plan_hash_batches.json"))
    assert [(f.kind, f.node_type, f.relation) for f in findings] == [("disk_spill", "Hash", "customers")]
    assert findings[0].numbers["hash_batches"] == 32


def test_default_selectivity_expression_is_a_misestimate() -> None:
    """(total_cents % 7) = 0 gets the default 0.5% estimate: 5,000 rows planned, 142,860 found, 29x off."""
    (finding,) = analyze_plan(load_plan("plan_misestimate.json"))
    assert (finding.kind, finding.node_type, finding.relation) == ("misestimate", "Seq Scan", "orders")
    assert finding.numbers["estimated_rows"] == 5000
    assert finding.numbers["actual_rows"] == 142_860
    assert finding.numbers["factor"] == pytest.approx(28.6)
    assert "underestimated" in finding.message
    assert "ANALYZE orders" in finding.suggestion


def test_misestimate_is_reported_where_it_starts() -> None:
    """A parent that inherits a child's misestimate is not reported a second time."""
    plan = load_plan("plan_misestimate.json")
    aggregate = plan[0]["Plan"]
    aggregate["Plan Rows"], aggregate["Actual Rows"] = 5000, 142_860  # as if the aggregate passed rows through
    assert [f.path for f in analyze_plan(plan)] == [(0,)]


def test_nested_loop_over_large_outer_input_suggests_inner_index() -> None:
    """20,000 outer rows times a materialised Seq Scan: reported with the join column of the inner table."""
    (finding,) = analyze_plan(load_plan("plan_nested_loop.json"))
    assert (finding.kind, finding.relation) == ("nested_loop", "regions")
    assert finding.numbers["outer_rows"] == 20_000
    assert finding.numbers["inner_loops"] == 20_000
    assert finding.numbers["rows_removed_by_join_filter"] == 5_980_000
    assert finding.index == IndexSuggestion("regions", ("code",))


def test_index_driven_nested_loop_is_not_a_finding() -> None:
    """When the inner side is an index scan, many outer rows are fine."""
    plan = load_plan("plan_nested_loop.json")
    inner = plan[0]["Plan"]["Plans"][1]
    inner["Node Type"] = "Index Scan"
    assert [f.kind for f in analyze_plan(plan)] == []


def test_healthy_index_scan_has_no_findings() -> None:
    """A primary-key lookup is not reported, and its index and timings are read."""
    plan = load_plan("plan_index_scan.json")
    assert analyze_plan(plan) == []
    assert index_names(plan) == {"orders_pkey"}
    assert execution_ms(plan) is not None
    assert total_cost(plan) > 0


def test_root_plan_accepts_each_shape() -> None:
    """The list EXPLAIN returns, its first element, or the node itself; anything else is an error."""
    plan = load_plan("plan_index_scan.json")
    node = plan[0]["Plan"]
    assert root_plan(plan) is node
    assert root_plan(plan[0]) is node
    assert root_plan(copy.deepcopy(node)) == node
    with pytest.raises(ValueError, match="not EXPLAIN"):
        root_plan({"rows": []})


@pytest.mark.parametrize(
    ("expression", "alias", "columns"),
    [
        ("(customer_email = 'x@example.com'::text)", None, ["customer_email"]),
        ("((status)::text = 'open'::text)", None, ["status"]),
        ("((total_cents > 500) AND (customer_id = 42))", None, ["customer_id", "total_cents"]),
        ("(lower(email) = 'a'::text)", None, ["email"]),
        (
            "((created_at >= '2024-01-01 00:00:00+00'::timestamp with time zone) AND (id = $1))",
            None,
            ["id", "created_at"],
        ),
        ("(o.customer_id = c.id)", "c", ["id"]),
        ('("Order Date" IS NOT NULL)', None, ["Order Date"]),
        ("(kind = ANY ('{a,b}'::text[]))", None, ["kind"]),
        ("(note ~~ '%and or not%'::text)", None, ["note"]),
    ],
)
def test_filter_columns(expression: str, alias: str | None, columns: list[str]) -> None:
    """Columns are read from Filter text: literals, casts, functions and keywords are not columns."""
    assert filter_columns(expression, alias) == columns


def test_index_suggestion_quotes_and_qualifies() -> None:
    """Mixed-case and reserved names are quoted; a schema qualifies the table; names fit in 63 bytes."""
    index = IndexSuggestion("Order", ("user", "Total"), schema="shop")
    assert index.create_sql(concurrently=True) == (
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_order_user_total ON shop."Order" ("user", "Total")'
    )
    assert quote_ident("plain_name") == "plain_name"
    assert len(IndexSuggestion("t" * 60, ("c" * 60,)).name) == 63
