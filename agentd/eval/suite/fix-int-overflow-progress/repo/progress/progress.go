// Package progress reports how far an upload has come.
package progress

// Percent is the share of total already sent, 0 to 100, rounded down.
func Percent(sent, total int64) int {
	if total <= 0 {
		return 0
	}
	if sent >= total {
		return 100
	}
	return int(int32(sent) * 100 / int32(total))
}

// Bar draws a text progress bar `width` characters wide.
func Bar(sent, total int64, width int) string {
	filled := Percent(sent, total) * width / 100
	bar := make([]byte, width)
	for i := range bar {
		if i < filled {
			bar[i] = '#'
		} else {
			bar[i] = '.'
		}
	}
	return string(bar)
}
