package settings

import (
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	got := Client(File{MaxRetries: 2})
	if got.Timeout != 10*time.Second || got.RetryAfter != 100*time.Millisecond || got.MaxRetries != 2 {
		t.Fatalf("got %+v", got)
	}
}
