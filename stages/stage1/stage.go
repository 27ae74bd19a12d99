package stage1

import (
	"github.com/gofiber/fiber/v2"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/cqrsapi"
	"github.com/staircase/staircase/stages/stage0"
)

// Stage is stage 1 behind the BFF's ports: a command side and a query side,
// two types that share nothing but the model underneath.
type Stage struct {
	commands
	queries
}

// New returns stage 1 on the write database.
func New(db *bun.DB) *Stage {
	crud := stage0.New(db)
	return &Stage{commands: commands{crud: crud}, queries: queries{crud: crud}}
}

// Routes mounts the modify API (/api/commands) and the retrieve API
// (/api/queries).
func (s *Stage) Routes(r fiber.Router) { cqrsapi.Routes(r, s.commands, s.queries) }
