package bff

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/web"
)

// Processes lists the processes of the app that run now: every process
// announces itself (its roles, stage, address, version, throughput) and
// one that stops disappears within seconds. It should bound its own wait.
type Processes interface {
	Processes(ctx context.Context) ([]stageview.Process, error)
}

// processRoles are the roles the panel draws, one column each.
var processRoles = []string{"web", "commands", "relay", "projector"}

func (s *Server) processRoutes(r fiber.Router) {
	r.Get("/architecture/processes", s.processesFragment)
}

// processesFragment is the processes panel alone, which replaces itself
// every 2 s.
func (s *Server) processesFragment(c *fiber.Ctx) error {
	p := s.processesPanel(c.UserContext(), true)
	if p == nil {
		return fiber.ErrNotFound
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.render(c, http.StatusOK, web.ProcessesPanelView(*p))
}

// processesPanel is the panel of the running processes per role; nil
// without a registry, or when the page previews another stage.
func (s *Server) processesPanel(ctx context.Context, active bool) *web.ProcessesPanel {
	if s.cfg.Processes == nil || !active {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ps, err := s.cfg.Processes.Processes(ctx)
	panel := &web.ProcessesPanel{URL: "/architecture/processes"}
	if err != nil {
		panel.Problem = "The process registry cannot be read now: " + err.Error()
		return panel
	}
	panel.Count = len(ps)
	now := time.Now()
	for _, role := range processRoles {
		col := web.ProcessRole{Role: role}
		for _, p := range ps {
			if !slices.Contains(p.Roles, role) {
				continue
			}
			col.Processes = append(col.Processes, web.ProcessView{
				ID: p.ID, Addr: p.Addr, Version: p.Version,
				Roles:     strings.Join(p.Roles, ", "),
				Stage:     "stage " + strconv.Itoa(p.Stage),
				Heartbeat: fmt.Sprintf("%.1f s ago", max(now.Sub(p.Heartbeat).Seconds(), 0)),
				Up:        now.Sub(p.Started).Round(time.Second).String(),
				Rates:     rateText(p.Rates),
			})
		}
		panel.Roles = append(panel.Roles, col)
	}
	return panel
}

// rateText says a process's throughput in words: only what it did.
func rateText(rates map[string]float64) string {
	var parts []string
	for _, k := range []string{"requests", "commands", "published", "projected"} {
		if v := rates[k]; v >= 0.05 {
			parts = append(parts, fmt.Sprintf("%.1f %s/s", v, k))
		}
	}
	if len(parts) == 0 {
		return "idle"
	}
	return strings.Join(parts, " · ")
}
