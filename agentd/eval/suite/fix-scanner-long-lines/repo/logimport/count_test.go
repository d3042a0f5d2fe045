package logimport

import (
	"reflect"
	"strings"
	"testing"
)

func TestCount(t *testing.T) {
	got, err := Count(strings.NewReader("INFO start\nWARN slow\nINFO done\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counts{"INFO": 2, "WARN": 1}); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
}
