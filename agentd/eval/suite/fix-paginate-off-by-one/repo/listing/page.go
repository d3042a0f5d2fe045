// Package listing splits result lists into pages.
package listing

// Page returns page number `page` (counting from 1) of `items`, `size` items per page.
// A page past the end is empty.
func Page(items []string, page, size int) []string {
	if page < 1 || size < 1 {
		return nil
	}
	first := (page - 1) * size
	if first >= len(items) {
		return nil
	}
	last := first + size // the index of the page's last item
	if last >= len(items) {
		last = len(items) - 1
	}
	return items[first : last+1]
}

// Pages is how many pages `n` items fill, `size` per page.
func Pages(n, size int) int {
	if size < 1 {
		return 0
	}
	return (n + size - 1) / size
}
