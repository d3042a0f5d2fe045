package registry

import (
	"reflect"
	"testing"
)

func TestRegisterAndLookup(t *testing.T) {
	r := New()
	if err := r.Register("b", func([]string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := r.Register("a", func([]string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := r.Register("a", nil); err == nil {
		t.Fatal("registering a twice: no error")
	}
	if _, ok := r.Lookup("a"); !ok {
		t.Fatal("a not found")
	}
	if got := r.Names(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("Names() = %v", got)
	}
}
