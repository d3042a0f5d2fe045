package store

import (
	"reflect"
	"testing"
	"time"
)

func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("did not return within %v", d)
	}
}

func TestGetManyKeys(t *testing.T) {
	s := New()
	s.Put("a", "1")
	s.Put("b", "2")
	var got map[string]string
	within(t, 2*time.Second, func() { got = s.GetMany([]string{"a", "b", "missing"}) })
	if want := map[string]string{"a": "1", "b": "2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestStoreUsableAfterGetMany(t *testing.T) {
	s := New()
	s.Put("a", "1")
	within(t, 2*time.Second, func() {
		s.GetMany([]string{"a"})
		s.Put("b", "2")
		s.GetMany([]string{"a", "b"})
	})
}
