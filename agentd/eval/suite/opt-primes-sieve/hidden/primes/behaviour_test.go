package primes

import (
	"reflect"
	"testing"
)

func TestSmallBounds(t *testing.T) {
	cases := map[int][]int{-5: nil, 0: nil, 1: nil, 2: nil, 3: {2}, 4: {2, 3}, 12: {2, 3, 5, 7, 11}}
	for n, want := range cases {
		got := Below(n)
		if len(want) == 0 {
			if len(got) != 0 {
				t.Errorf("Below(%d) = %v, want none", n, got)
			}
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Below(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestCountsAndEnds(t *testing.T) {
	got := Below(30000)
	if len(got) != 3245 || got[len(got)-1] != 29989 {
		t.Fatalf("%d primes below 30000 ending in %d", len(got), got[len(got)-1])
	}
	if p := Below(7920); p[len(p)-1] != 7919 || len(p) != 1000 {
		t.Fatalf("the 1000th prime: %d of %d", p[len(p)-1], len(p))
	}
}
