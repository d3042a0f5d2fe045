package board

import (
	"fmt"
	"testing"
)

func TestRank(t *testing.T) {
	got := Rank([]Player{{"a", 1}, {"b", 3}, {"c", 2}})
	if got[0].Name != "b" || got[1].Name != "c" || got[2].Name != "a" {
		t.Fatalf("got %v", got)
	}
}

func BenchmarkRank(b *testing.B) {
	players := make([]Player, 4000)
	for i := range players {
		players[i] = Player{fmt.Sprint(i), (i * 7919) % 1000}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Rank(players)
	}
}
