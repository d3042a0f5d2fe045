package settings

import (
	"testing"
	"time"
)

func TestUnitsFromTheFile(t *testing.T) {
	got := Client(File{TimeoutSeconds: 30, RetryAfterMS: 250, MaxRetries: 3})
	want := ClientSettings{Timeout: 30 * time.Second, RetryAfter: 250 * time.Millisecond, MaxRetries: 3}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
