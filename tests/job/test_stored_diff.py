"""What the store keeps of a lane's diff: whole up to the cap, else cut with a marker."""

from __future__ import annotations

from agentd.job.lanes import MAX_STORED_DIFF, stored_diff


def test_a_huge_diff_is_stored_cut_with_a_marker() -> None:
    """A diff over the store's cap keeps its head and says how many bytes were left out; a small one is whole."""
    small = "+x\n"
    assert stored_diff(small) == small
    cut = stored_diff("+" * (MAX_STORED_DIFF + 10))
    assert cut.startswith("+" * MAX_STORED_DIFF)
    assert "10 more bytes not stored" in cut
