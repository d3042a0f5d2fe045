package search

import (
	"context"
	"runtime"
	"testing"
	"time"
)

func instant(text string) Backend {
	return func(context.Context, string) (string, error) { return text, nil }
}

func settledGoroutines(want int) int {
	deadline := time.Now().Add(2 * time.Second)
	n := runtime.NumGoroutine()
	for n > want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

func TestNoGoroutineStaysBehind(t *testing.T) {
	before := runtime.NumGoroutine()
	for i := 0; i < 50; i++ {
		got, err := First(context.Background(), "q", instant("a"), instant("b"), instant("c"))
		if err != nil || (got != "a" && got != "b" && got != "c") {
			t.Fatalf("got %q, %v", got, err)
		}
	}
	if after := settledGoroutines(before); after > before {
		t.Fatalf("%d goroutines before 50 searches, %d after", before, after)
	}
}

func TestSlowLosersAreNotLeaked(t *testing.T) {
	before := runtime.NumGoroutine()
	got, err := First(context.Background(), "q", instant("now"), slow("later", 50*time.Millisecond))
	if err != nil || got != "now" {
		t.Fatalf("got %q, %v", got, err)
	}
	if after := settledGoroutines(before); after > before {
		t.Fatalf("%d goroutines before, %d after", before, after)
	}
}
