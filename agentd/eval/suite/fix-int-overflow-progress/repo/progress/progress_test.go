package progress

import "testing"

func TestPercentSmall(t *testing.T) {
	cases := []struct {
		sent, total int64
		want        int
	}{{0, 100, 0}, {50, 100, 50}, {1, 3, 33}, {100, 100, 100}, {5, 0, 0}}
	for _, c := range cases {
		if got := Percent(c.sent, c.total); got != c.want {
			t.Errorf("Percent(%d, %d) = %d, want %d", c.sent, c.total, got, c.want)
		}
	}
}

func TestBar(t *testing.T) {
	if got := Bar(1, 2, 10); got != "#####....." {
		t.Fatalf("got %q", got)
	}
}
