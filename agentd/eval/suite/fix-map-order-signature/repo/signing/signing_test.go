package signing

import (
	"net/url"
	"testing"
)

func TestCanonicalOneParameter(t *testing.T) {
	if got := Canonical(url.Values{"q": {"a b"}}); got != "q=a+b" {
		t.Fatalf("got %q", got)
	}
}

func TestSignIsHex(t *testing.T) {
	if got := Sign([]byte("k"), "GET", "/x", url.Values{"a": {"1"}}); len(got) != 64 {
		t.Fatalf("got %q", got)
	}
}
