package router

import "testing"

func TestOneRoute(t *testing.T) {
	h := Build([]Route{{"/health", "ok"}})
	if got := Serve(h, "/health"); got != "/health: ok" {
		t.Fatalf("got %q", got)
	}
	if got := Serve(h, "/nope"); got != "404" {
		t.Fatalf("got %q", got)
	}
}
