package fuzzy

import "testing"

func TestDistance(t *testing.T) {
	if d := Distance("kitten", "sitting"); d != 3 {
		t.Fatalf("got %d", d)
	}
}

func BenchmarkDistance(b *testing.B) {
	for i := 0; i < b.N; i++ {
		Distance("receipt", "reciept")
		Distance("necessary", "neccesary")
	}
}
