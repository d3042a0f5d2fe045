package board

import (
	"fmt"
	"testing"
)

func TestTiesKeepInputOrder(t *testing.T) {
	var players []Player
	for i := 0; i < 100; i++ {
		players = append(players, Player{fmt.Sprint(i), i % 4})
	}
	got := Rank(players)
	for i := 1; i < len(got); i++ {
		a, b := got[i-1], got[i]
		if a.Score < b.Score {
			t.Fatalf("score %d before %d", a.Score, b.Score)
		}
		var ai, bi int
		fmt.Sscan(a.Name, &ai)
		fmt.Sscan(b.Name, &bi)
		if a.Score == b.Score && ai > bi {
			t.Fatalf("player %d before player %d at equal score", ai, bi)
		}
	}
}

func TestInputUnchanged(t *testing.T) {
	in := []Player{{"a", 1}, {"b", 2}}
	Rank(in)
	if in[0].Name != "a" || in[1].Name != "b" {
		t.Fatalf("the input became %v", in)
	}
	if got := Rank(nil); len(got) != 0 {
		t.Fatalf("got %v", got)
	}
}
