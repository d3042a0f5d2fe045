package tags

import (
	"fmt"
	"reflect"
	"testing"
)

func TestCommon(t *testing.T) {
	got := Common([]string{"red", "wool", "xl"}, []string{"xl", "red"})
	if !reflect.DeepEqual(got, []string{"red", "xl"}) {
		t.Fatalf("got %v", got)
	}
}

func BenchmarkCommon(b *testing.B) {
	a := make([]string, 2000)
	c := make([]string, 2000)
	for i := range a {
		a[i] = fmt.Sprintf("tag%d", i)
		c[i] = fmt.Sprintf("tag%d", i*3)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Common(a, c)
	}
}
