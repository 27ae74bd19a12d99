package bff

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/order"
)

// Resetter empties the app's data while it serves (the workshop's "Reset
// data"): every order, in the database of record that every stage
// shares, on the bus and in the read database; then it seeds seedOrders
// made-up orders (0: none). The BFF holds writes back while it runs.
type Resetter interface {
	Reset(ctx context.Context, seedOrders int) error
}

// maxResetSeed bounds the orders a reset seeds: the writes wait meanwhile.
const maxResetSeed = 100_000

// errNoReset answers a reset when the server does not offer one.
var errNoReset = fiber.NewError(http.StatusNotFound, "reset is a workshop action: start the server with --workshop (or stop it and run staircase reset)")

// errResetBusy answers a reset while a stage switch or a rebuild runs.
var errResetBusy = order.Errorf(order.ECONFLICT, "a stage switch or a rebuild of the read database is running; reset when it is done")

type resetRequest struct {
	SeedOrders int `json:"seed_orders"`
}

type resetJSON struct {
	Reset       bool `json:"reset"`
	SeedOrders  int  `json:"seed_orders"`
	Stage       int  `json:"stage"`
	ControlsOff bool `json:"controls_off"`
}

// resetAPIRoutes mounts POST /api/admin/reset, with {"seed_orders": n}
// optional, ahead of the rest of the admin API.
func (s *Server) resetAPIRoutes(api fiber.Router) {
	api.Post("/admin/reset", s.apiReset)
}

func (s *Server) apiReset(c *fiber.Ctx) error {
	if s.cfg.Reset == nil {
		return errNoReset
	}
	var req resetRequest
	if len(c.Body()) > 0 {
		if err := httpapi.Decode(c.Body(), &req); err != nil {
			return err
		}
	}
	if req.SeedOrders < 0 || req.SeedOrders > maxResetSeed {
		return invalidField("seed_orders", "must be from 0 to "+strconv.Itoa(maxResetSeed))
	}
	if err := s.resetData(c.UserContext(), req.SeedOrders, "admin API"); err != nil {
		return err
	}
	n, _ := s.cfg.Switch.Active()
	return c.JSON(resetJSON{Reset: true, SeedOrders: req.SeedOrders, Stage: n, ControlsOff: true})
}

// resetRoutes mounts the workshop panel's "Reset data" form.
func (s *Server) resetRoutes(r fiber.Router) {
	r.Post("/architecture/reset", s.requireAdmin, s.resetForm)
}

func (s *Server) resetForm(c *fiber.Ctx) error {
	if s.cfg.Reset == nil {
		return errNoReset
	}
	back := "/architecture?stage=" + strconv.Itoa(s.cfg.WorkshopStage)
	seed := 0
	if v := c.FormValue("seed_orders"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxResetSeed {
			return fiber.NewError(http.StatusUnprocessableEntity, "Orders to seed must be a whole number from 0 to "+strconv.Itoa(maxResetSeed)+"; nothing was reset.")
		}
		seed = n
	}
	if err := s.resetData(c.UserContext(), seed, "workshop panel"); err != nil {
		if order.ErrorCode(err) == order.ECONFLICT {
			return fiber.NewError(http.StatusConflict, "A stage switch or a rebuild is running; reset when it is done. Nothing was reset.")
		}
		return err
	}
	done := "reset"
	if seed > 0 {
		done = "reset-seeded"
	}
	return c.Redirect(back+"&done="+done+"#workshop-panel", http.StatusSeeOther)
}

// resetData resets the data while the server serves: no switch and no
// rebuild may run, writes are held back at the fence, and the workshop
// controls go back to their defaults first (so that nothing they hold
// back, a paused projector's event, lands after the reset).
func (s *Server) resetData(ctx context.Context, seedOrders int, by string) error {
	// A rebuild must not start while the read database is emptied; the
	// pages that show a rebuild's progress wait for the reset.
	s.rebuilds.mu.Lock()
	defer s.rebuilds.mu.Unlock()
	if j := s.rebuilds.current; j != nil && !j.done() {
		return errResetBusy
	}
	sw := s.cfg.Switch
	if !sw.mu.TryLock() {
		return errResetBusy
	}
	defer sw.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), switchTimeout)
	defer cancel()
	if err := sw.fence.close(ctx); err != nil {
		return err
	}
	defer sw.fence.open()
	if w := s.cfg.Workshop; w != nil {
		for _, ctl := range w.Controls(ctx) {
			if ctl.On() {
				if err := w.SetControl(ctx, ctl.Key, ctl.Default); err != nil {
					return err
				}
			}
		}
	}
	err := s.cfg.Reset.Reset(ctx, seedOrders)
	// What the pages remember having written is gone either way.
	s.writes.clear()
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "data reset", "seeded_orders", seedOrders, "by", by)
	return nil
}

// clear forgets every write.
func (w *writes) clear() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.m = map[order.ID]written{}
}
