package money

import "testing"

func TestParseWholeAndHalf(t *testing.T) {
	for text, want := range map[string]int64{"12": 1200, "$1,250.50": 125050, "0.5": 50} {
		got, err := ParseDollars(text)
		if err != nil || got != want {
			t.Errorf("ParseDollars(%q) = %d, %v; want %d", text, got, err, want)
		}
	}
	if _, err := ParseDollars("abc"); err == nil {
		t.Error("no error for abc")
	}
}

func TestFormat(t *testing.T) {
	if got := Format(-125005); got != "-$1250.05" {
		t.Fatalf("got %q", got)
	}
}
