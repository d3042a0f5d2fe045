// Package sku checks stock-keeping unit codes such as "KIT-0042-BL".
package sku

import (
	"regexp"
	"strings"
)

// Valid says whether code is a well-formed SKU: a 2-4 letter category, a 4 digit number and an
// optional 2 letter variant, separated by dashes, in capitals.
func Valid(code string) bool {
	pattern := regexp.MustCompile(`^[A-Z]{2,4}-[0-9]{4}(-[A-Z]{2})?$`)
	return pattern.MatchString(code)
}

// Normalize upper-cases a code and trims the spaces users type around it.
func Normalize(code string) string {
	return strings.ToUpper(strings.TrimSpace(code))
}
