// Package fuzzy finds near matches for misspelled words.
package fuzzy

// Distance is the Levenshtein distance between a and b: the fewest single-character
// insertions, deletions and substitutions that turn a into b. Characters are runes.
func Distance(a, b string) int {
	return distance([]rune(a), []rune(b))
}

func distance(a, b []rune) int {
	if len(a) == 0 {
		return len(b)
	}
	if len(b) == 0 {
		return len(a)
	}
	cost := 1
	if a[len(a)-1] == b[len(b)-1] {
		cost = 0
	}
	return min3(
		distance(a[:len(a)-1], b)+1,
		distance(a, b[:len(b)-1])+1,
		distance(a[:len(a)-1], b[:len(b)-1])+cost,
	)
}

func min3(x, y, z int) int {
	if y < x {
		x = y
	}
	if z < x {
		x = z
	}
	return x
}

// Closest returns the word of dict nearest to w (the first one on a tie).
func Closest(w string, dict []string) string {
	best, bestDist := "", -1
	for _, d := range dict {
		if dist := Distance(w, d); bestDist < 0 || dist < bestDist {
			best, bestDist = d, dist
		}
	}
	return best
}
