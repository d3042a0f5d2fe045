package relay

import (
	"strings"
	"testing"
)

func TestLargeIntegersPassThrough(t *testing.T) {
	in := `{"id": 1234567890123456789, "thread": {"parent": 9007199254740993}, "score": 0.1, "n": [18446744073709551615]}`
	out, err := Rewrite([]byte(in), "relay-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"id":1234567890123456789`, `"parent":9007199254740993`, `"score":0.1`,
		`18446744073709551615`, `"relayed_by":"relay-1"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("%s lacks %s", out, want)
		}
	}
}
