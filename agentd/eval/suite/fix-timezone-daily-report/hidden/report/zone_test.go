package report

import (
	"reflect"
	"testing"
	"time"
)

func TestDaysAreTheStoresCalendarDays(t *testing.T) {
	newYork := time.FixedZone("EST", -5*60*60)
	orders := []Order{
		// 21:30 on March 3 in New York is 02:30 on March 4 in UTC.
		{At: time.Date(2024, 3, 4, 2, 30, 0, 0, time.UTC), AmountCents: 700},
		{At: time.Date(2024, 3, 3, 15, 0, 0, 0, newYork), AmountCents: 300},
		{At: time.Date(2024, 3, 4, 9, 0, 0, 0, newYork), AmountCents: 100},
	}
	want := []Day{{"2024-03-03", 2, 1000}, {"2024-03-04", 1, 100}}
	if got := DailyTotals(orders, newYork); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestEastOfUTC(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*60*60)
	orders := []Order{{At: time.Date(2024, 1, 1, 20, 0, 0, 0, time.UTC), AmountCents: 1}}
	want := []Day{{"2024-01-02", 1, 1}}
	if got := DailyTotals(orders, tokyo); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
