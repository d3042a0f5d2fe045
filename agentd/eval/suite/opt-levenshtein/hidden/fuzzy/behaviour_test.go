package fuzzy

import "testing"

func TestDistances(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"", "abc", 3}, {"abc", "", 3}, {"abc", "abc", 0}, {"flaw", "lawn", 2},
		{"kitten", "sitting", 3}, {"saturday", "sunday", 3}, {"café", "cafe", 1}, {"日本", "日本語", 1},
		{"gumbo", "gambol", 2}, {"abcdefghij", "jihgfedcba", 10},
		{"quick fox", "quack box", 2},
	}
	for _, c := range cases {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := Distance(c.b, c.a); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.b, c.a, got, c.want)
		}
	}
}

func TestClosestTakesTheFirstOnATie(t *testing.T) {
	if got := Closest("cat", []string{"bat", "cot", "cart"}); got != "bat" {
		t.Fatalf("got %q", got)
	}
}
