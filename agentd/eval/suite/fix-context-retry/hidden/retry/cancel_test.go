package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestStopsWhenCancelledDuringTheWait(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	started := time.Now()
	go func() {
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	err := Do(ctx, Policy{Attempts: 3, Delay: 2 * time.Second}, func(context.Context) error {
		calls++
		return errors.New("unavailable")
	})
	if took := time.Since(started); took > time.Second {
		t.Fatalf("Do returned %v after the cancel", took)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if calls != 1 {
		t.Fatalf("%d calls, want 1", calls)
	}
}

func TestDoesNotStartWhenAlreadyDone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	calls := 0
	err := Do(ctx, Policy{Attempts: 3, Delay: time.Second}, func(context.Context) error {
		calls++
		return errors.New("unavailable")
	})
	if !errors.Is(err, context.DeadlineExceeded) || calls != 0 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}
