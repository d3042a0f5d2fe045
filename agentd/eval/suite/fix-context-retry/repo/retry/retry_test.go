package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSucceedsAfterFailures(t *testing.T) {
	calls := 0
	err := Do(context.Background(), Policy{Attempts: 5, Delay: time.Millisecond}, func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}

func TestGivesUp(t *testing.T) {
	boom := errors.New("boom")
	calls := 0
	err := Do(context.Background(), Policy{Attempts: 3, Delay: time.Millisecond}, func(context.Context) error {
		calls++
		return boom
	})
	if !errors.Is(err, boom) || calls != 3 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}
