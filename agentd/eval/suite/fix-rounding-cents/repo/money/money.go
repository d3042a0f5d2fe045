// Package money converts between the text users type and amounts in cents.
package money

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseDollars reads an amount such as "19.99" or "$1,250.00" and returns it in cents.
func ParseDollars(text string) (int64, error) {
	clean := strings.NewReplacer("$", "", ",", "", " ", "").Replace(text)
	dollars, err := strconv.ParseFloat(clean, 64)
	if err != nil {
		return 0, fmt.Errorf("money: %q is not an amount", text)
	}
	return int64(dollars * 100), nil
}

// Format renders cents as dollars with two decimals.
func Format(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s$%d.%02d", sign, cents/100, cents%100)
}
