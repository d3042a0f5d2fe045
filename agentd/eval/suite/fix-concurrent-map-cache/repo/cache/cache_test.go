package cache

import (
	"testing"
	"time"
)

func TestSetGetExpire(t *testing.T) {
	now := time.Unix(1000, 0)
	c := New(time.Minute)
	c.now = func() time.Time { return now }
	c.Set("a", "1")
	if v, ok := c.Get("a"); !ok || v != "1" {
		t.Fatalf("got %q, %v", v, ok)
	}
	now = now.Add(2 * time.Minute)
	if _, ok := c.Get("a"); ok {
		t.Fatal("an expired entry was returned")
	}
	c.Purge()
	if c.Len() != 0 {
		t.Fatalf("%d entries after purge", c.Len())
	}
}
