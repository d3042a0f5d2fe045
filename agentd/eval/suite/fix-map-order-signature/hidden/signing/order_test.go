package signing

import (
	"net/url"
	"testing"
)

func TestCanonicalIsSortedEveryTime(t *testing.T) {
	q := url.Values{"zeta": {"1"}, "alpha": {"2"}, "mid": {"x", "a"}, "beta": {"3"}}
	want := "alpha=2&beta=3&mid=x&mid=a&zeta=1"
	for i := 0; i < 50; i++ {
		if got := Canonical(q); got != want {
			t.Fatalf("run %d: got %q, want %q", i, got, want)
		}
	}
}

func TestSignatureIsStable(t *testing.T) {
	q := url.Values{"b": {"2"}, "a": {"1"}, "c": {"3"}}
	first := Sign([]byte("secret"), "GET", "/orders", q)
	for i := 0; i < 50; i++ {
		if got := Sign([]byte("secret"), "GET", "/orders", q); got != first {
			t.Fatalf("run %d: signature changed", i)
		}
	}
}
