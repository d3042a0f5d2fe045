package events

import (
	"testing"
	"time"
)

func TestSameInstantInOtherZoneIsADuplicate(t *testing.T) {
	utc := time.Date(2024, 6, 1, 16, 0, 0, 0, time.UTC)
	newYork := utc.In(time.FixedZone("EDT", -4*60*60))
	got := Dedup([]Event{{"a", utc}, {"a", newYork}, {"b", newYork}, {"b", utc}})
	if len(got) != 2 || got[0].ID != "a" || got[1].ID != "b" {
		t.Fatalf("got %v", got)
	}
}

func TestMonotonicReadingDoesNotMatter(t *testing.T) {
	now := time.Now()
	got := Dedup([]Event{{"a", now}, {"a", now.Round(0)}})
	if len(got) != 1 {
		t.Fatalf("got %v", got)
	}
}
