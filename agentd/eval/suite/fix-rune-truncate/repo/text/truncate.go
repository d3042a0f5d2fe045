// Package text formats strings for narrow columns.
package text

// Truncate shortens s to at most n characters, ending in "…" when it had to cut.
func Truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// Initials returns the first letter of each word, for avatars.
func Initials(words ...string) string {
	out := ""
	for _, w := range words {
		if w != "" {
			out += string([]rune(w)[0])
		}
	}
	return out
}
