package mailing

import (
	"fmt"
	"reflect"
	"testing"
)

func TestDedupe(t *testing.T) {
	got := Dedupe([]string{"a@x", "b@x", "a@x"})
	if !reflect.DeepEqual(got, []string{"a@x", "b@x"}) {
		t.Fatalf("got %v", got)
	}
}

func BenchmarkDedupe(b *testing.B) {
	addresses := make([]string, 3000)
	for i := range addresses {
		addresses[i] = fmt.Sprintf("user%d@example.com", i%2000)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Dedupe(addresses)
	}
}
