package mailing

import (
	"fmt"
	"reflect"
	"testing"
)

func TestFirstOccurrenceOrderIsKept(t *testing.T) {
	in := []string{"c@x", "a@x", "c@x", "b@x", "a@x", "d@x", "C@x"}
	want := []string{"c@x", "a@x", "b@x", "d@x", "C@x"}
	if got := Dedupe(in); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestEmptyAndLarge(t *testing.T) {
	if got := Dedupe(nil); got == nil || len(got) != 0 {
		t.Fatalf("Dedupe(nil) = %#v, want an empty, non-nil list", got)
	}
	var in, want []string
	for i := 0; i < 5000; i++ {
		in = append(in, fmt.Sprint(i%1237))
	}
	for i := 0; i < 1237; i++ {
		want = append(want, fmt.Sprint(i))
	}
	if got := Dedupe(in); !reflect.DeepEqual(got, want) {
		t.Fatalf("%d addresses out, want %d", len(got), len(want))
	}
}

func TestInputIsNotChanged(t *testing.T) {
	in := []string{"b", "a", "b"}
	Dedupe(in)
	if !reflect.DeepEqual(in, []string{"b", "a", "b"}) {
		t.Fatalf("the input became %v", in)
	}
}
