// Package retry runs an operation again after failures, waiting longer each time.
package retry

import (
	"context"
	"time"
)

// Policy says how often and how patiently to retry.
type Policy struct {
	Attempts int           // how many times to call the operation at most
	Delay    time.Duration // the wait after the first failure; doubled after each further one
}

// Do calls op until it succeeds or the attempts are used up; it returns op's last error.
func Do(ctx context.Context, p Policy, op func(context.Context) error) error {
	delay := p.Delay
	var err error
	for attempt := 1; attempt <= p.Attempts; attempt++ {
		if err = op(ctx); err == nil {
			return nil
		}
		if attempt < p.Attempts {
			time.Sleep(delay)
			delay *= 2
		}
	}
	return err
}
