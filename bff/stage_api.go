package bff

import (
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/order"
)

// stageRequest is the body of PUT /api/admin/stage.
type stageRequest struct {
	Stage *int `json:"stage"`
}

// stageJSON is what GET and PUT /api/admin/stage answer: the active stage,
// and while one is entered in the background, which one and where its
// progress is followed.
type stageJSON struct {
	Stage     int    `json:"stage"`
	Available []int  `json:"available"`
	Entering  *int   `json:"entering,omitempty"`
	Progress  string `json:"progress,omitempty"`
}

// stageAPIRoutes mounts the stage switch of the admin API, ahead of the
// rest of it: GET /api/admin/stage answers the active stage; PUT with
// {"stage": n} switches as the header's switcher does.
//
// PUT answers 200 with the active stage once the switch is done, at once
// when entering the stage is quick. A stage whose read database must be
// rebuilt first is entered in the background instead: 202 Accepted, with
// the rebuild's page as Location and "progress" (its server-sent events are
// at the page's sse-connect URL); GET /api/admin/stage says when it became
// active. A stage that does not exist is a 422 problem; a switch asked for
// while another runs, 409.
func (s *Server) stageAPIRoutes(api fiber.Router) {
	api.Get("/admin/stage", s.apiStage)
	api.Put("/admin/stage", s.apiSwitchStage)
}

func (s *Server) stageState() stageJSON {
	n, _ := s.cfg.Switch.Active()
	out := stageJSON{Stage: n, Available: s.cfg.Switch.Numbers()}
	if j := s.job(0); j != nil && !j.done() && j.target() >= 0 {
		t := j.target()
		out.Entering, out.Progress = &t, "/rebuild?job="+strconv.Itoa(j.id)
	}
	return out
}

func (s *Server) apiStage(c *fiber.Ctx) error {
	return c.JSON(s.stageState())
}

// errSwitchRunning answers a switch asked for while another runs.
var errSwitchRunning = order.Errorf(order.ECONFLICT, "a stage switch is already running; ask again when it is done (GET /api/admin/stage)")

func (s *Server) apiSwitchStage(c *fiber.Ctx) error {
	var req stageRequest
	if err := httpapi.Decode(c.Body(), &req); err != nil {
		return err
	}
	if req.Stage == nil {
		return invalidField("stage", "is required: the number of the stage to switch to")
	}
	j, err := s.beginSwitch(c.UserContext(), *req.Stage, "", "admin API")
	if err != nil {
		return err
	}
	st := s.stageState()
	if j != nil {
		c.Location(st.Progress)
		return c.Status(http.StatusAccepted).JSON(st)
	}
	return c.JSON(st)
}

func numbers(ns []int) string {
	out := ""
	for i, n := range ns {
		if i > 0 {
			out += ", "
		}
		out += strconv.Itoa(n)
	}
	return out
}
