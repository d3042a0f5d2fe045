package primes

import (
	"reflect"
	"testing"
)

func TestBelow(t *testing.T) {
	if got := Below(20); !reflect.DeepEqual(got, []int{2, 3, 5, 7, 11, 13, 17, 19}) {
		t.Fatalf("got %v", got)
	}
}

func BenchmarkBelow(b *testing.B) {
	for i := 0; i < b.N; i++ {
		Below(20000)
	}
}
