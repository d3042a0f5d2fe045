package text

import "testing"

func TestTruncateASCII(t *testing.T) {
	cases := []struct {
		s    string
		n    int
		want string
	}{{"kettle", 10, "kettle"}, {"stainless kettle", 10, "stainless…"}, {"abc", 0, ""}}
	for _, c := range cases {
		if got := Truncate(c.s, c.n); got != c.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}

func TestInitials(t *testing.T) {
	if got := Initials("Émile", "Zola"); got != "ÉZ" {
		t.Fatalf("got %q", got)
	}
}
