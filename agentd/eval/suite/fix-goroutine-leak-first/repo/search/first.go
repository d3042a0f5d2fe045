// Package search asks several backends the same question and keeps the fastest answer.
package search

import (
	"context"
	"errors"
)

// Backend answers a query.
type Backend func(ctx context.Context, query string) (string, error)

type answer struct {
	text string
	err  error
}

// ErrNoBackends is returned when First is given no backend.
var ErrNoBackends = errors.New("search: no backends")

// First asks every backend and returns the first successful answer, or the last error
// when every backend fails.
func First(ctx context.Context, query string, backends ...Backend) (string, error) {
	if len(backends) == 0 {
		return "", ErrNoBackends
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	answers := make(chan answer)
	for _, b := range backends {
		b := b
		go func() {
			text, err := b(ctx, query)
			answers <- answer{text, err}
		}()
	}
	var err error
	for range backends {
		a := <-answers
		if a.err == nil {
			return a.text, nil
		}
		err = a.err
	}
	return "", err
}
