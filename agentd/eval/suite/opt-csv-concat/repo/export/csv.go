// Package export writes orders as CSV for the accounting team.
package export

import (
	"strconv"
	"strings"
)

// Order is one line of the export.
type Order struct {
	ID       int
	Customer string
	Cents    int64
}

func field(s string) string {
	if strings.ContainsAny(s, "\",\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// CSV renders the orders with a header line; every line ends in "\n".
func CSV(orders []Order) string {
	out := "id,customer,amount\n"
	for _, o := range orders {
		out += strconv.Itoa(o.ID) + "," + field(o.Customer) + ","
		out += strconv.FormatInt(o.Cents/100, 10) + "." + strconv.FormatInt(o.Cents%100/10, 10) + strconv.FormatInt(o.Cents%10, 10)
		out += "\n"
	}
	return out
}
