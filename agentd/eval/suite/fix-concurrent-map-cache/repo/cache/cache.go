// Package cache keeps recently computed values for a while.
package cache

import "time"

type entry struct {
	value   string
	expires time.Time
}

// Cache maps keys to values that expire after a fixed time to live.
type Cache struct {
	ttl     time.Duration
	now     func() time.Time
	entries map[string]entry
}

// New returns an empty cache whose entries live for ttl.
func New(ttl time.Duration) *Cache {
	return &Cache{ttl: ttl, now: time.Now, entries: make(map[string]entry)}
}

// Set stores a value.
func (c *Cache) Set(key, value string) {
	c.entries[key] = entry{value, c.now().Add(c.ttl)}
}

// Get returns a value that has not expired.
func (c *Cache) Get(key string) (string, bool) {
	e, ok := c.entries[key]
	if !ok || !c.now().Before(e.expires) {
		return "", false
	}
	return e.value, true
}

// Len counts the entries, expired ones included.
func (c *Cache) Len() int {
	return len(c.entries)
}

// Purge removes the expired entries.
func (c *Cache) Purge() {
	now := c.now()
	for key, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, key)
		}
	}
}
