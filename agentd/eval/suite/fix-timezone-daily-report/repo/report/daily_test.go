package report

import (
	"reflect"
	"testing"
	"time"
)

func TestDailyTotalsInUTC(t *testing.T) {
	orders := []Order{
		{At: time.Date(2024, 3, 4, 10, 0, 0, 0, time.UTC), AmountCents: 500},
		{At: time.Date(2024, 3, 3, 12, 0, 0, 0, time.UTC), AmountCents: 250},
		{At: time.Date(2024, 3, 4, 18, 0, 0, 0, time.UTC), AmountCents: 100},
	}
	want := []Day{{"2024-03-03", 1, 250}, {"2024-03-04", 2, 600}}
	if got := DailyTotals(orders, time.UTC); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
