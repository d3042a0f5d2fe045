// Package store is an in-memory key-value store safe for concurrent use.
package store

import "sync"

// Store maps keys to values.
type Store struct {
	mu   sync.Mutex
	data map[string]string
}

// New returns an empty store.
func New() *Store {
	return &Store{data: map[string]string{}}
}

// Put stores a value.
func (s *Store) Put(key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[key] = value
}

// Get returns a value and whether it is there.
func (s *Store) Get(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[key]
	return v, ok
}

// GetMany returns the values of the keys that are present.
func (s *Store) GetMany(keys []string) map[string]string {
	found := make(map[string]string, len(keys))
	for _, key := range keys {
		s.mu.Lock()
		defer s.mu.Unlock()
		if v, ok := s.data[key]; ok {
			found[key] = v
		}
	}
	return found
}
