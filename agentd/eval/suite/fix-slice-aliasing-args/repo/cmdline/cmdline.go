// Package cmdline assembles argument lists for the tools we run.
package cmdline

import "strings"

// Base is the start of every invocation of a tool: the program and its fixed flags.
func Base(program string, flags ...string) []string {
	args := make([]string, 0, 8) // room for the flags most invocations add
	args = append(args, program)
	return append(args, flags...)
}

// With returns base followed by extra.
func With(base []string, extra ...string) []string {
	return append(base, extra...)
}

// String renders an argument list for a log line.
func String(args []string) string {
	return strings.Join(args, " ")
}
