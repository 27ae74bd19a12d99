package bench

import (
	"math"
	"slices"
	"time"
)

// Sample is a set of durations to summarise by percentiles.
type Sample []time.Duration

// Percentile returns the p-th percentile (0–100) by the nearest-rank
// method, or 0 for an empty sample. It sorts the sample.
func (s Sample) Percentile(p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// Millis is d in milliseconds, for reports.
func Millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
