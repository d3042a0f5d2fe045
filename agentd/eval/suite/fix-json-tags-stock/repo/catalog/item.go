// Package catalog holds the items we sell and their JSON form.
package catalog

import (
	"encoding/json"
	"time"
)

// Item is one product as the API shows it.
type Item struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	PriceCents int64    `json:"price_cents"`
	Stock      int      `json:"stock,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	UpdatedAt  time.Time
}

// Encode renders an item for the API.
func Encode(item Item) ([]byte, error) {
	return json.Marshal(item)
}

// Decode reads an item sent by a client.
func Decode(data []byte) (Item, error) {
	var item Item
	err := json.Unmarshal(data, &item)
	return item, err
}
