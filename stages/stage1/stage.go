package stage1

import (
	"github.com/gofiber/fiber/v2"
	"github.com/uptrace/bun"
)

// Stage is stage 1 behind the BFF's ports: a command side and a query side,
// two types that share nothing but the model underneath.
type Stage struct {
	commands
	queries
}

// New returns stage 1 on the write database.
func New(db *bun.DB) *Stage {
	svc := NewService(db)
	return &Stage{commands: commands{svc: svc}, queries: queries{svc: svc}}
}

// Routes mounts the modify API (/api/commands) and the retrieve API
// (/api/queries).
func (s *Stage) Routes(r fiber.Router) {
	commandRoutes(r, s.commands)
	queryRoutes(r, s.queries)
}
