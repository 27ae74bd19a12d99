package stage1_test

import (
	"github.com/staircase/staircase/bff"
	"github.com/staircase/staircase/stages/stage1"
)

var _ bff.Stage = (*stage1.Stage)(nil)
