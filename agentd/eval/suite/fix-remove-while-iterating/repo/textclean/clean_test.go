package textclean

import (
	"reflect"
	"testing"
)

func TestDropSingleBlank(t *testing.T) {
	got := DropBlank([]string{"a", "", "b", "  ", "c"})
	if want := []string{"a", "b", "c"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
}

func TestTrimRight(t *testing.T) {
	if got := TrimRight([]string{"a \t", "b"}); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("got %q", got)
	}
}
