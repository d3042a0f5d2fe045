package tags

import (
	"reflect"
	"testing"
)

func TestOrderAndRepeats(t *testing.T) {
	a := []string{"z", "b", "a", "b", "c", "z", "Z"}
	b := []string{"a", "z", "z", "b", "Z"}
	want := []string{"z", "b", "a", "Z"}
	if got := Common(a, b); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestNothingShared(t *testing.T) {
	for _, got := range [][]string{Common(nil, []string{"a"}), Common([]string{"a"}, nil), Common([]string{"a"}, []string{"b"})} {
		if got == nil || len(got) != 0 {
			t.Fatalf("got %#v, want an empty, non-nil list", got)
		}
	}
}
