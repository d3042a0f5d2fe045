package relay

import (
	"encoding/json"
	"testing"
)

func TestRewriteAddsName(t *testing.T) {
	out, err := Rewrite([]byte(`{"id": 42, "text": "hi"}`), "relay-1")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	if m["relayed_by"] != "relay-1" || m["text"] != "hi" || m["id"] != 42.0 {
		t.Fatalf("got %s", out)
	}
}

func TestNotAnObject(t *testing.T) {
	if _, err := Rewrite([]byte(`[1]`), "r"); err == nil {
		t.Fatal("no error")
	}
}
