// Package board ranks players for the leaderboard.
package board

// Player is one entry of the leaderboard.
type Player struct {
	Name  string
	Score int
}

// Rank returns the players by score, highest first; players with equal scores keep the
// order they had in the input. The input is not changed.
func Rank(players []Player) []Player {
	out := append([]Player(nil), players...)
	for i := 0; i < len(out); i++ {
		for j := 0; j < len(out)-1-i; j++ {
			if out[j].Score < out[j+1].Score {
				out[j], out[j+1] = out[j+1], out[j]
			}
		}
	}
	return out
}
