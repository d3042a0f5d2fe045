// Package events cleans up the event stream our gateways deliver.
package events

import "time"

// Event is one delivered event.
type Event struct {
	ID string
	At time.Time
}

// Dedup keeps the first copy of each event (same id, same time), in order.
func Dedup(in []Event) []Event {
	var out []Event
	for _, e := range in {
		dup := false
		for _, kept := range out {
			if kept.ID == e.ID && kept.At == e.At {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, e)
		}
	}
	return out
}
