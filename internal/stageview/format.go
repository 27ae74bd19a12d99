package stageview

import (
	"math"
	"strconv"
	"strings"
)

// FormatCount writes a whole count with thin groups of three, 12 345, the
// way the live panel shows its figures.
func FormatCount(v float64) string {
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u202f") // a narrow no-break space
		}
		b.WriteRune(ch)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
