package progress

import "testing"

func TestPercentOfLargeFiles(t *testing.T) {
	const mb = int64(1) << 20
	const gb = int64(1) << 30
	cases := []struct {
		sent, total int64
		want        int
	}{
		{25 * mb, 50 * mb, 50},
		{30 * mb, 100 * mb, 30},
		{3 * gb, 4 * gb, 75},
		{1, 8 * gb, 0},
		{8*gb - 1, 8 * gb, 99},
		{900 * gb, 1000 * gb, 90},
	}
	for _, c := range cases {
		if got := Percent(c.sent, c.total); got != c.want {
			t.Errorf("Percent(%d, %d) = %d, want %d", c.sent, c.total, got, c.want)
		}
	}
}

func TestBarOfLargeFile(t *testing.T) {
	if got := Bar(3<<30, 4<<30, 4); got != "###." {
		t.Fatalf("got %q", got)
	}
}
