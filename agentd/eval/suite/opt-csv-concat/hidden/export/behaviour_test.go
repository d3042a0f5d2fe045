package export

import (
	"strings"
	"testing"
)

func TestQuotingAndAmounts(t *testing.T) {
	got := CSV([]Order{{7, `Say "hi"`, 100}, {8, "two\nlines", 99}, {9, "", 123456789}})
	want := "id,customer,amount\n7,\"Say \"\"hi\"\"\",1.00\n8,\"two\nlines\",0.99\n9,,1234567.89\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestEmptyAndMany(t *testing.T) {
	if got := CSV(nil); got != "id,customer,amount\n" {
		t.Fatalf("got %q", got)
	}
	orders := make([]Order, 1000)
	got := CSV(orders)
	if strings.Count(got, "\n") != 1001 || !strings.HasSuffix(got, "0,,0.00\n") {
		t.Fatalf("got %d lines", strings.Count(got, "\n"))
	}
}
