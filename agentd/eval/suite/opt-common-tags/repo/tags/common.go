// Package tags compares the tag lists of products.
package tags

// Common returns the tags that appear in both a and b, in the order of a, each once.
func Common(a, b []string) []string {
	out := []string{}
	for _, t := range a {
		inB := false
		for _, u := range b {
			if t == u {
				inB = true
				break
			}
		}
		if !inB {
			continue
		}
		dup := false
		for _, o := range out {
			if o == t {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, t)
		}
	}
	return out
}
