// Package settings turns the config file's numbers into the HTTP client's settings.
package settings

import "time"

// File is the [http] section of the config file.
type File struct {
	TimeoutSeconds int `toml:"timeout_seconds"`
	RetryAfterMS   int `toml:"retry_after_ms"`
	MaxRetries     int `toml:"max_retries"`
}

// ClientSettings is what the HTTP client needs.
type ClientSettings struct {
	Timeout    time.Duration
	RetryAfter time.Duration
	MaxRetries int
}

// Client converts the file's settings, using defaults for what is left at zero.
func Client(f File) ClientSettings {
	s := ClientSettings{Timeout: 10 * time.Second, RetryAfter: 100 * time.Millisecond, MaxRetries: f.MaxRetries}
	if f.TimeoutSeconds > 0 {
		s.Timeout = time.Duration(f.TimeoutSeconds)
	}
	if f.RetryAfterMS > 0 {
		s.RetryAfter = time.Duration(f.RetryAfterMS)
	}
	return s
}
