// Package primes lists prime numbers.
package primes

// Below returns the primes smaller than n, in increasing order.
func Below(n int) []int {
	var out []int
	for c := 2; c < n; c++ {
		prime := true
		for d := 2; d < c; d++ {
			if c%d == 0 {
				prime = false
				break
			}
		}
		if prime {
			out = append(out, c)
		}
	}
	return out
}
