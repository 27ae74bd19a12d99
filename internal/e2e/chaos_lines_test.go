package e2e

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestEveryLinesChangeChangesTheLines checks the chaos clients' changes of
// lines: each sends other lines than the order has. Stage 0's PUT of the
// lines an order already has is a no-op answered with the order's version
// (as a PUT may be), so a change drawn equal to the lines before it was
// acknowledged at the version the change before had made, and the tally
// counted that version twice: "duplicated 1", nothing duplicated.
// TestVersionsAcrossSwitches met it after about 200,000 changes; the seed
// below draws such a pair at once (the place-order's lines, then the same
// lines again).
func TestEveryLinesChangeChangesTheLines(t *testing.T) {
	for _, seed := range []uint64{46058, 1, 2, 3} {
		c := &chaosClient{rng: rand.New(rand.NewPCG(seed, 0))}
		prev := c.body("o", cPlace)["lines"]
		for i := range 1000 {
			next := c.body("o", cLines)["lines"]
			if reflect.DeepEqual(prev, next) {
				t.Fatalf("seed %d: change %d sends the lines the order has: %v", seed, i+1, next)
			}
			prev = next
		}
	}
}
