// Package relay forwards webhook payloads, stamping them on the way.
package relay

import (
	"encoding/json"
	"fmt"
)

// Rewrite adds "relayed_by": name to a JSON object and returns the new JSON.
func Rewrite(payload []byte, name string) ([]byte, error) {
	var obj map[string]any
	if err := json.Unmarshal(payload, &obj); err != nil {
		return nil, fmt.Errorf("relay: payload is not a JSON object: %w", err)
	}
	obj["relayed_by"] = name
	return json.Marshal(obj)
}
