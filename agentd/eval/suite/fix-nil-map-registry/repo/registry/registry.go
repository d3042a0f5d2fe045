// Package registry maps command names to their handlers.
package registry

import (
	"fmt"
	"sort"
)

// Handler runs one command.
type Handler func(args []string) error

// Registry holds the handlers by name. Its zero value is an empty registry.
type Registry struct {
	handlers map[string]Handler
}

// New returns an empty registry.
func New() *Registry {
	return &Registry{handlers: make(map[string]Handler)}
}

// Register adds a handler; registering a name twice is an error.
func (r *Registry) Register(name string, h Handler) error {
	if _, ok := r.handlers[name]; ok {
		return fmt.Errorf("registry: %q registered twice", name)
	}
	r.handlers[name] = h
	return nil
}

// Lookup finds the handler of a name.
func (r *Registry) Lookup(name string) (Handler, bool) {
	h, ok := r.handlers[name]
	return h, ok
}

// Names lists the registered names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.handlers))
	for name := range r.handlers {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
