// Package report sums orders per calendar day.
package report

import (
	"sort"
	"time"
)

// Order is one sale.
type Order struct {
	At          time.Time
	AmountCents int64
}

// Day is one line of the daily report.
type Day struct {
	Date        string // YYYY-MM-DD
	Orders      int
	AmountCents int64
}

// DailyTotals sums the orders per calendar day of the store at loc, oldest day first.
func DailyTotals(orders []Order, loc *time.Location) []Day {
	byDate := map[string]*Day{}
	for _, o := range orders {
		date := o.At.UTC().Format("2006-01-02")
		day, ok := byDate[date]
		if !ok {
			day = &Day{Date: date}
			byDate[date] = day
		}
		day.Orders++
		day.AmountCents += o.AmountCents
	}
	days := make([]Day, 0, len(byDate))
	for _, day := range byDate {
		days = append(days, *day)
	}
	sort.Slice(days, func(i, j int) bool { return days[i].Date < days[j].Date })
	return days
}
