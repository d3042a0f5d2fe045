package text

import (
	"testing"
	"unicode/utf8"
)

func TestTruncateCountsCharacters(t *testing.T) {
	cases := []struct {
		s    string
		n    int
		want string
	}{
		{"Crème brûlée", 10, "Crème brû…"},
		{"Crème brûlée", 12, "Crème brûlée"},
		{"naïve", 5, "naïve"},
		{"日本語のテキスト", 4, "日本語…"},
		{"🍰🍰🍰", 2, "🍰…"},
		{"ok", 1, "…"},
	}
	for _, c := range cases {
		got := Truncate(c.s, c.n)
		if got != c.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) is not valid UTF-8", c.s, c.n)
		}
	}
}
