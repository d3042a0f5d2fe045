// Package router maps request paths to handlers built from a table.
package router

import "fmt"

// Route is one line of the routing table: a path and the text it answers.
type Route struct {
	Path string
	Body string
}

// Handler answers one request.
type Handler func() string

// Build makes one handler per route; each answers "<path>: <body>".
func Build(routes []Route) map[string]Handler {
	handlers := make(map[string]Handler, len(routes))
	for _, r := range routes {
		handlers[r.Path] = func() string {
			return fmt.Sprintf("%s: %s", r.Path, r.Body)
		}
	}
	return handlers
}

// Serve answers a request for path, or "404" when no route matches.
func Serve(handlers map[string]Handler, path string) string {
	h, ok := handlers[path]
	if !ok {
		return "404"
	}
	return h()
}
