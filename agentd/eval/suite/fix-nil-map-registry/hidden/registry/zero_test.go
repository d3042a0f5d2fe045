package registry

import (
	"reflect"
	"testing"
)

func TestZeroRegistryIsUsable(t *testing.T) {
	var r Registry
	if _, ok := r.Lookup("x"); ok {
		t.Fatal("an empty registry found x")
	}
	if err := r.Register("x", func([]string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := r.Register("x", nil); err == nil {
		t.Fatal("registering x twice: no error")
	}
	if got := r.Names(); !reflect.DeepEqual(got, []string{"x"}) {
		t.Fatalf("Names() = %v", got)
	}
}

func TestRegistryAsField(t *testing.T) {
	var app struct{ commands Registry }
	if err := app.commands.Register("run", func([]string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok := app.commands.Lookup("run"); !ok {
		t.Fatal("run not found")
	}
}
