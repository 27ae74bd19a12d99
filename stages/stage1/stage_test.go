package stage1_test

import (
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/bff"
	"github.com/staircase/staircase/stages/stage1"
)

var _ bff.Stage = (*stage1.Stage)(nil)

// underTest is the stage the API tests run, and the side its queries say
// they read from.
var underTest = struct {
	new    func(*bun.DB) stage
	source string
}{func(db *bun.DB) stage { return stage1.New(db) }, "write model"}
