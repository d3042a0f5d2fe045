"""Real Go targets for the performance tests: one module, one package, three versions of Dedupe.

`quadratic` is the slow original (a nested loop over what it kept so far), `hashed` the fix (a
map of seen values), `slower` a deliberate regression (the nested loop without its early exit,
counting every match). All share one test and one benchmark, so only the implementation varies.
"""

from __future__ import annotations

from pathlib import Path

MODULE = "example.com/shop"
PACKAGE = "./dedupe"
FUNCTION = f"{MODULE}/dedupe.Dedupe"

QUADRATIC = """// Package dedupe removes repeated values from a slice.
package dedupe

// Dedupe returns items without repeats, in first-seen order.
func Dedupe(items []int) []int {
	out := make([]int, 0)
	for _, item := range items {
		seen := false
		for _, kept := range out {
			if kept == item {
				seen = true
				break
			}
		}
		if !seen {
			out = append(out, item)
		}
	}
	return out
}
"""

HASHED = """// Package dedupe removes repeated values from a slice.
package dedupe

// Dedupe returns items without repeats, in first-seen order.
func Dedupe(items []int) []int {
	seen := make(map[int]struct{}, len(items))
	out := make([]int, 0, len(items))
	for _, item := range items {
		if _, ok := seen[item]; ok {
			continue
		}
		seen[item] = struct{}{}
		out = append(out, item)
	}
	return out
}
"""

SLOWER = """// Package dedupe removes repeated values from a slice.
package dedupe

// Dedupe returns items without repeats, in first-seen order.
func Dedupe(items []int) []int {
	out := make([]int, 0)
	for _, item := range items {
		matches := 0
		for _, kept := range out {
			if kept == item {
				matches++
			}
		}
		for _, kept := range out {
			if kept == item {
				matches++
			}
		}
		if matches == 0 {
			out = append(out, item)
		}
	}
	return out
}
"""

TEST = """package dedupe

import "testing"

func input() []int {
	items := make([]int, 4000)
	for i := range items {
		items[i] = (i * 7919) % 2000
	}
	return items
}

func TestDedupe(t *testing.T) {
	got := Dedupe([]int{3, 1, 3, 2, 1})
	if len(got) != 3 || got[0] != 3 || got[1] != 1 || got[2] != 2 {
		t.Fatalf("Dedupe = %v", got)
	}
}

func BenchmarkDedupe(b *testing.B) {
	items := input()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Dedupe(items)
	}
}
"""

VERSIONS = {"quadratic": QUADRATIC, "hashed": HASHED, "slower": SLOWER}


def write_module(root: Path, version: str) -> Path:
    """Write the module with one version of Dedupe under root; return root."""
    package = root / "dedupe"
    package.mkdir(parents=True, exist_ok=True)
    (root / "go.mod").write_text(f"module {MODULE}\n\ngo 1.19\n")
    (package / "dedupe.go").write_text(VERSIONS[version])
    (package / "dedupe_test.go").write_text(TEST)
    return root
