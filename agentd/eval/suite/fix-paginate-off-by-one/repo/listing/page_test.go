package listing

import "testing"

func TestPages(t *testing.T) {
	for _, c := range []struct{ n, size, want int }{{0, 10, 0}, {10, 10, 1}, {11, 10, 2}} {
		if got := Pages(c.n, c.size); got != c.want {
			t.Errorf("Pages(%d, %d) = %d, want %d", c.n, c.size, got, c.want)
		}
	}
}

func TestPagePastTheEnd(t *testing.T) {
	if got := Page([]string{"a"}, 3, 10); got != nil {
		t.Fatalf("page 3 of one item = %v, want nothing", got)
	}
}
