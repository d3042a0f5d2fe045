package search

import (
	"context"
	"errors"
	"testing"
	"time"
)

func slow(text string, d time.Duration) Backend {
	return func(ctx context.Context, _ string) (string, error) {
		select {
		case <-time.After(d):
			return text, nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

func TestFastestWins(t *testing.T) {
	got, err := First(context.Background(), "q", slow("slow", 200*time.Millisecond), slow("fast", time.Millisecond))
	if err != nil || got != "fast" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestAllFail(t *testing.T) {
	boom := errors.New("boom")
	fail := func(context.Context, string) (string, error) { return "", boom }
	if _, err := First(context.Background(), "q", fail, fail); !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
}
