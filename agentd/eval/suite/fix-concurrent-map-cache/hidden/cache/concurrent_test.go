package cache

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestManyGoroutines(t *testing.T) {
	c := New(time.Hour)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20000; i++ {
				key := strconv.Itoa(g*100000 + i)
				c.Set(key, key)
				if v, ok := c.Get(key); !ok || v != key {
					t.Errorf("Get(%s) = %q, %v", key, v, ok)
					return
				}
				if i%5000 == 0 {
					c.Purge()
					_ = c.Len()
				}
			}
		}(g)
	}
	wg.Wait()
	if c.Len() != 8*20000 {
		t.Fatalf("%d entries, want %d", c.Len(), 8*20000)
	}
}
