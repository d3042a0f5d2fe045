// Package mailing prepares address lists for a mail-out.
package mailing

// Dedupe returns the addresses without repeats, each kept where it first appears.
func Dedupe(addresses []string) []string {
	out := []string{}
	for _, a := range addresses {
		seen := false
		for _, o := range out {
			if o == a {
				seen = true
				break
			}
		}
		if !seen {
			out = append(out, a)
		}
	}
	return out
}
