package catalog

import (
	"encoding/json"
	"testing"
	"time"
)

func fields(t *testing.T, item Item) map[string]json.RawMessage {
	t.Helper()
	data, err := Encode(item)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestOutOfStockSaysZero(t *testing.T) {
	m := fields(t, Item{ID: "i2", Name: "Mug", PriceCents: 800})
	if got, ok := m["stock"]; !ok || string(got) != "0" {
		t.Fatalf("stock = %s (present: %v), want 0", got, ok)
	}
}

func TestUpdatedAtIsSnakeCase(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	m := fields(t, Item{ID: "i3", UpdatedAt: at})
	if _, ok := m["UpdatedAt"]; ok {
		t.Error(`the JSON has "UpdatedAt"`)
	}
	if got := string(m["updated_at"]); got != `"2024-05-01T12:00:00Z"` {
		t.Errorf("updated_at = %s", got)
	}
	if _, ok := m["tags"]; ok {
		t.Error("tags should still be left out when there are none")
	}
}

func TestDecodeSnakeCase(t *testing.T) {
	item, err := Decode([]byte(`{"id":"i4","stock":0,"updated_at":"2024-05-02T08:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if item.UpdatedAt.IsZero() || item.UpdatedAt.Day() != 2 {
		t.Fatalf("updated_at not read: %v", item.UpdatedAt)
	}
}
