package stage2

import (
	"github.com/gofiber/fiber/v2"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/stages/stage2/command"
	"github.com/staircase/staircase/stages/stage2/query"
)

// Stage is stage 2 behind the BFF's ports: a command side and a query side,
// two types that share nothing but the database underneath.
type Stage struct {
	*command.Handlers
	*query.ReadModel
}

// New returns stage 2 on the write database (migrated: the read model's
// views live there). Options configure the write model's repository.
func New(db *bun.DB, opts ...command.RepositoryOption) *Stage {
	return &Stage{Handlers: command.New(command.NewRepository(db, opts...)), ReadModel: query.New(db)}
}

// Routes mounts the modify API (/api/commands) and the retrieve API
// (/api/queries).
func (s *Stage) Routes(r fiber.Router) {
	commandRoutes(r, s.Handlers)
	queryRoutes(r, s.ReadModel)
}
