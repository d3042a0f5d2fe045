package events

import (
	"testing"
	"time"
)

func TestDedupSameZone(t *testing.T) {
	at := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	got := Dedup([]Event{{"a", at}, {"b", at}, {"a", at}, {"a", at.Add(time.Second)}})
	if len(got) != 3 {
		t.Fatalf("got %v", got)
	}
}
