// Package importer reads customer records exported by our CRMs.
package importer

import (
	"encoding/json"
	"fmt"
)

// Customer is one imported record.
type Customer struct {
	ID    string
	Name  string
	Email string
}

// Parse reads a JSON array of customer objects.
func Parse(data []byte) ([]Customer, error) {
	var records []map[string]any
	if err := json.Unmarshal(data, &records); err != nil {
		return nil, fmt.Errorf("importer: %w", err)
	}
	customers := make([]Customer, 0, len(records))
	for _, r := range records {
		name, _ := r["name"].(string)
		email, _ := r["email"].(string)
		customers = append(customers, Customer{ID: r["id"].(string), Name: name, Email: email})
	}
	return customers, nil
}
