package report

import "testing"

func TestReportHasEveryLine(t *testing.T) {
	w := NewWriter(8)
	w.Title("Sales")
	w.Row("orders", 12)
	w.Row("revenue", "340.50")
	want := "Sales\n=====\norders   12\nrevenue  340.50\n"
	if got := w.String(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestZeroWriterWorks(t *testing.T) {
	var w Writer
	w.Row("a", 1)
	if got := w.String(); got != "a 1\n" {
		t.Fatalf("got %q", got)
	}
}
