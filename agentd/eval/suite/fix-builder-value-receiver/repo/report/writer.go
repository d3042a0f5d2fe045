// Package report renders plain-text tables.
package report

import (
	"fmt"
	"strings"
)

// Writer collects the lines of a report.
type Writer struct {
	sb    strings.Builder
	width int
}

// NewWriter returns a writer whose rows pad their first column to width.
func NewWriter(width int) *Writer {
	return &Writer{width: width}
}

// Title writes a heading underlined with '='.
func (w Writer) Title(title string) {
	w.sb.WriteString(title + "\n" + strings.Repeat("=", len(title)) + "\n")
}

// Row writes a label and a value.
func (w Writer) Row(label string, value any) {
	fmt.Fprintf(&w.sb, "%-*s %v\n", w.width, label, value)
}

// String is the report so far.
func (w *Writer) String() string {
	return w.sb.String()
}

// Width is the width of the first column.
func (w *Writer) Width() int {
	return w.width
}
