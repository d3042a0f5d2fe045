// Package storage keeps items by key.
package storage

import (
	"errors"
	"fmt"
)

// Errors the store returns, possibly wrapped with more detail.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// Store is an in-memory item store.
type Store struct{ items map[string]string }

// New returns an empty store.
func New() *Store { return &Store{items: map[string]string{}} }

// Get returns an item.
func (s *Store) Get(key string) (string, error) {
	v, ok := s.items[key]
	if !ok {
		return "", fmt.Errorf("get %q: %w", key, ErrNotFound)
	}
	return v, nil
}

// Create adds an item that must not exist yet.
func (s *Store) Create(key, value string) error {
	if _, ok := s.items[key]; ok {
		return fmt.Errorf("create %q: %w", key, ErrConflict)
	}
	s.items[key] = value
	return nil
}
