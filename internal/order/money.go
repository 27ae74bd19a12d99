package order

import (
	"slices"
	"strconv"
	"strings"
)

// FormatMoney writes cents in a currency as people read it: "$1,234.50".
func FormatMoney(cents int64, currency string) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	whole := strconv.FormatInt(cents/100, 10)
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	frac := cents % 100
	amount := b.String() + "." + strconv.FormatInt(frac/10, 10) + strconv.FormatInt(frac%10, 10)
	switch currency {
	case "USD":
		return sign + "$" + amount
	case "EUR":
		return sign + "€" + amount
	case "GBP":
		return sign + "£" + amount
	}
	return sign + amount + " " + currency
}

// SameLines reports whether two lists of lines are equal, line by line.
func SameLines(a, b []Line) bool { return slices.Equal(a, b) }
