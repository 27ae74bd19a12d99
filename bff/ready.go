package bff

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/stageview"
)

// Liveness and readiness are apart: GET /healthz says the process serves
// (200 whenever it answers at all), so that a supervisor restarts only a
// process that hangs; GET /readyz says whether the active stage can serve
// and how its parts are doing, so that a load balancer sends traffic only
// where it can be served. A stage that is degraded (a lagging read side, a
// write database down while commands wait on a bus) is still ready: 200
// with "status": "degraded" and the reasons. Only a stage that cannot
// serve — a part it needs for its reads or commands is down — is 503.

// readyJSON is what GET /readyz answers.
type readyJSON struct {
	Status     string          `json:"status"` // "ok", "degraded" or "unavailable"
	Stage      int             `json:"stage"`
	Reasons    []string        `json:"reasons,omitempty"`
	Components []componentJSON `json:"components"`
}

type componentJSON struct {
	Key        string   `json:"key"`
	Name       string   `json:"name"`
	State      string   `json:"state"`
	Essential  bool     `json:"essential"`
	Reason     string   `json:"reason,omitempty"`
	LagSeconds *float64 `json:"lag_seconds,omitempty"`
	Backlog    *float64 `json:"backlog,omitempty"`
}

func (s *Server) healthz(c *fiber.Ctx) error {
	n := c.Locals(localStage).(int)
	return c.JSON(fiber.Map{"status": "ok", "stage": n})
}

// readiness is the active stage's readiness: its own report, or for a
// stage without one, whether the database answers.
func (s *Server) readiness(ctx context.Context, st Stage) stageview.Readiness {
	if r, ok := st.(Readier); ok {
		return r.Readiness(ctx)
	}
	db := stageview.Component{Key: "write_db", Name: "database", State: stageview.Up, Essential: true}
	if s.health != nil {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := s.health(ctx); err != nil {
			s.log.WarnContext(ctx, "readiness: the database does not answer", "err", err)
			db.State, db.Reason = stageview.Down, "does not answer: reads and commands fail"
		}
	}
	return stageview.Readiness{Components: []stageview.Component{db}}
}

func (s *Server) readyz(c *fiber.Ctx) error {
	n, st := s.stage(c)
	r := s.readiness(c.UserContext(), st)
	out := readyJSON{Status: "ok", Stage: n, Components: []componentJSON{}}
	for _, comp := range r.Components {
		out.Components = append(out.Components, componentJSON{Key: comp.Key, Name: comp.Name, State: string(comp.State),
			Essential: comp.Essential, Reason: comp.Reason, LagSeconds: comp.Lag, Backlog: comp.Backlog})
		if comp.State != stageview.Up {
			out.Reasons = append(out.Reasons, comp.Name+": "+comp.Reason)
		}
	}
	if j := s.job(0); j != nil && !j.done() && j.target() >= 0 {
		out.Reasons = append(out.Reasons, "stage "+strconv.Itoa(j.target())+" is being entered: "+j.status().Text)
	}
	switch {
	case !r.CanServe():
		out.Status = "unavailable"
		return c.Status(http.StatusServiceUnavailable).JSON(out)
	case len(out.Reasons) > 0:
		out.Status = "degraded"
	}
	return c.JSON(out)
}
