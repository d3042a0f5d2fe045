package listing

import (
	"reflect"
	"testing"
)

func TestPagesDoNotOverlap(t *testing.T) {
	items := []string{"a", "b", "c", "d", "e"}
	want := [][]string{{"a", "b"}, {"c", "d"}, {"e"}, nil}
	for page := 1; page <= 4; page++ {
		if got := Page(items, page, 2); !reflect.DeepEqual(got, want[page-1]) {
			t.Errorf("Page(items, %d, 2) = %v, want %v", page, got, want[page-1])
		}
	}
}

func TestPagesCoverEveryItemOnce(t *testing.T) {
	items := make([]string, 23)
	for i := range items {
		items[i] = string(rune('A' + i))
	}
	var seen []string
	for page := 1; page <= Pages(len(items), 5); page++ {
		seen = append(seen, Page(items, page, 5)...)
	}
	if !reflect.DeepEqual(seen, items) {
		t.Fatalf("all pages together = %v, want %v", seen, items)
	}
}
