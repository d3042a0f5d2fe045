// Package textclean tidies up text before it is stored.
package textclean

import "strings"

// DropBlank removes the lines that are empty or hold only spaces and tabs.
func DropBlank(lines []string) []string {
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) == "" {
			lines = append(lines[:i], lines[i+1:]...)
		}
	}
	return lines
}

// TrimRight removes trailing spaces and tabs from every line.
func TrimRight(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.TrimRight(l, " \t")
	}
	return out
}
