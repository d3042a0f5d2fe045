package api

import (
	"fmt"
	"net/http"
	"testing"

	"example.com/api/storage"
)

func TestStatusOfStoreErrors(t *testing.T) {
	s := storage.New()
	_, err := s.Get("missing")
	if got := Status(err); got != http.StatusNotFound {
		t.Errorf("missing item: %d, want 404", got)
	}
	if err := s.Create("a", "1"); err != nil {
		t.Fatal(err)
	}
	if got := Status(s.Create("a", "2")); got != http.StatusConflict {
		t.Errorf("duplicate: %d, want 409", got)
	}
	twice := fmt.Errorf("handler: %w", fmt.Errorf("get: %w", storage.ErrNotFound))
	if got := Status(twice); got != http.StatusNotFound {
		t.Errorf("wrapped twice: %d, want 404", got)
	}
}
