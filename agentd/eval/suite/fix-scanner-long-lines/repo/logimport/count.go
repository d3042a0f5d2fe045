// Package logimport reads service logs and counts their lines by level.
package logimport

import (
	"bufio"
	"io"
	"strings"
)

// Counts is how many lines of each level a log had.
type Counts map[string]int

// Count reads a log, one entry per line ("LEVEL message"), and counts the levels.
func Count(r io.Reader) (Counts, error) {
	counts := Counts{}
	scanner := bufio.NewScanner(r)
	for scanner.Scan() {
		level, _, _ := strings.Cut(scanner.Text(), " ")
		if level != "" {
			counts[level]++
		}
	}
	return counts, nil
}
