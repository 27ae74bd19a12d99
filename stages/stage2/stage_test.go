package stage2_test

import (
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/bff"
	"github.com/staircase/staircase/stages/stage2"
)

var _ bff.Stage = (*stage2.Stage)(nil)

// underTest is the stage the API tests run, and the side its queries say
// they read from.
var underTest = struct {
	new    func(*bun.DB) stage
	source string
}{func(db *bun.DB) stage { return stage2.New(db) }, "read model"}
