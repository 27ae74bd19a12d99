package stage2_test

import (
	"github.com/staircase/staircase/bff"
	"github.com/staircase/staircase/stages/stage2"
)

var _ bff.Stage = (*stage2.Stage)(nil)
