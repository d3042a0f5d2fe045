package router

import "testing"

func TestEveryRouteAnswersForItself(t *testing.T) {
	routes := []Route{{"/health", "ok"}, {"/version", "1.4.2"}, {"/metrics", "requests 12"}}
	h := Build(routes)
	for _, r := range routes {
		want := r.Path + ": " + r.Body
		if got := Serve(h, r.Path); got != want {
			t.Errorf("GET %s = %q, want %q", r.Path, got, want)
		}
	}
}
