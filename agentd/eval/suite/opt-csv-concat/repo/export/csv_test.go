package export

import (
	"fmt"
	"testing"
)

func TestCSV(t *testing.T) {
	got := CSV([]Order{{1, "Ada", 1250}, {2, "Lovelace, Ada", 5}})
	want := "id,customer,amount\n1,Ada,12.50\n2,\"Lovelace, Ada\",0.05\n"
	if got != want {
		t.Fatalf("got %q", got)
	}
}

func BenchmarkCSV(b *testing.B) {
	orders := make([]Order, 1500)
	for i := range orders {
		orders[i] = Order{i, fmt.Sprintf("customer %d", i), int64(i * 37)}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		CSV(orders)
	}
}
