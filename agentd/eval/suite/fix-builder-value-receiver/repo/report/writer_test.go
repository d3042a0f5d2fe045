package report

import "testing"

func TestNewWriter(t *testing.T) {
	w := NewWriter(12)
	if w.Width() != 12 || w.String() != "" {
		t.Fatalf("a new writer: width %d, text %q", w.Width(), w.String())
	}
}
