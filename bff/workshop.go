package bff

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/web"
)

// Workshop is a stage's workshop controls (staircase serve --workshop):
// switches and numbers that make its behaviour visible at human speed,
// all off to begin with.
type Workshop interface {
	// Controls lists the controls with their current values.
	Controls(ctx context.Context) []stageview.Control
	// SetControl sets control key to value: ENOTFOUND for an unknown
	// control, EINVALID for a value it does not take.
	SetControl(ctx context.Context, key, value string) error
}

// errNoWorkshop answers the workshop API when the controls are off.
var errNoWorkshop = fiber.NewError(http.StatusNotFound, "the workshop controls are off: start the server with --workshop")

// controlJSON is a control in the admin API.
type controlJSON struct {
	Key     string   `json:"key"`
	Label   string   `json:"label"`
	Kind    string   `json:"kind"`
	Value   string   `json:"value"`
	Default string   `json:"default"`
	On      bool     `json:"on"`
	Choices []string `json:"choices,omitempty"`
	Min     *int     `json:"min,omitempty"`
	Max     *int     `json:"max,omitempty"`
	Unit    string   `json:"unit,omitempty"`
	// Placeholder hints at what a text control takes.
	Placeholder string `json:"placeholder,omitempty"`
	Effect      string `json:"effect"`
	Watch       string `json:"watch"`
}

func controlOf(c stageview.Control) controlJSON {
	out := controlJSON{Key: c.Key, Label: c.Label, Kind: c.Kind, Value: c.Value, Default: c.Default, On: c.On(),
		Choices: c.Choices, Unit: c.Unit, Placeholder: c.Placeholder, Effect: c.Effect, Watch: c.Watch}
	if c.Kind == stageview.ControlNumber {
		lo, hi := c.Min, c.Max
		out.Min, out.Max = &lo, &hi
	}
	return out
}

// controlRequest is the body of PUT /api/admin/workshop/{control}: a
// string, a number or a boolean.
type controlRequest struct {
	Value json.RawMessage `json:"value"`
}

// workshopAPIRoutes mounts the workshop API on the admin API: GET
// /api/admin/workshop lists the controls, PUT
// /api/admin/workshop/{control} with {"value": …} sets one. Both answer
// 404 while the controls are off.
func (s *Server) workshopAPIRoutes(api fiber.Router) {
	api.Get("/admin/workshop", s.apiWorkshop)
	api.Put("/admin/workshop/:control", s.apiSetControl)
}

func (s *Server) apiWorkshop(c *fiber.Ctx) error {
	w := s.cfg.Workshop
	if w == nil {
		return errNoWorkshop
	}
	out := []controlJSON{}
	for _, ctl := range w.Controls(c.UserContext()) {
		out = append(out, controlOf(ctl))
	}
	return c.JSON(fiber.Map{"stage": s.cfg.WorkshopStage, "controls": out})
}

func (s *Server) apiSetControl(c *fiber.Ctx) error {
	w := s.cfg.Workshop
	if w == nil {
		return errNoWorkshop
	}
	var req controlRequest
	if err := httpapi.Decode(c.Body(), &req); err != nil {
		return err
	}
	value, ok := controlValue(req.Value)
	if !ok {
		return invalidField("value", `is required: a string or a number, e.g. {"value": "paused"} or {"value": 250}`)
	}
	key := c.Params("control")
	if err := w.SetControl(c.UserContext(), key, value); err != nil {
		return err
	}
	for _, ctl := range w.Controls(c.UserContext()) {
		if ctl.Key == key {
			return c.JSON(controlOf(ctl))
		}
	}
	return fiber.ErrNotFound
}

// controlValue reads a control's value from JSON: a string, a number as
// it was written, or a boolean as "true" or "false".
func controlValue(raw json.RawMessage) (string, bool) {
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		return str, true
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return strconv.FormatBool(b), true
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), true
	}
	return "", false
}

// workshopRoutes mounts the workshop panel's forms.
func (s *Server) workshopRoutes(r fiber.Router) {
	r.Post("/architecture/workshop/:control", s.requireAdmin, s.setControlForm)
}

// setControlForm sets a control from the architecture page's panel and
// shows the page again there; a bad value shows the page with why.
func (s *Server) setControlForm(c *fiber.Ctx) error {
	w := s.cfg.Workshop
	if w == nil {
		return errNoWorkshop
	}
	key := c.Params("control")
	err := w.SetControl(c.UserContext(), key, c.FormValue("value"))
	switch order.ErrorCode(err) {
	case "":
		return c.Redirect("/architecture?stage="+strconv.Itoa(s.cfg.WorkshopStage)+"#workshop-panel", http.StatusSeeOther)
	case order.EINVALID:
		active := c.Locals(localStage).(int)
		a := s.architecture(s.cfg.WorkshopStage, active)
		s.rebuildPanel(c, &a)
		s.workshopPanel(c, &a)
		a.Workshop.Control, a.Workshop.Message = key, order.ErrorMessage(err)
		if f := order.FieldErrors(err); len(f) > 0 {
			a.Workshop.Message = f[0].Message
		}
		return s.render(c, http.StatusUnprocessableEntity, web.ArchitecturePage(s.chrome(c, "Architecture", "architecture"), a))
	}
	return err
}

// workshopPanel adds the workshop controls to the architecture page of
// the stage that has them, when they are on.
func (s *Server) workshopPanel(c *fiber.Ctx, a *web.Architecture) {
	w := s.cfg.Workshop
	if w == nil || a.Stage != s.cfg.WorkshopStage {
		return
	}
	p := &web.WorkshopPanel{CSRFToken: tokenOf(c), Reset: s.cfg.Reset != nil}
	controls := w.Controls(c.UserContext())
	for _, ctl := range controls {
		p.Controls = append(p.Controls, web.WorkshopControl{
			Key: ctl.Key, Label: ctl.Label, Number: ctl.Kind == stageview.ControlNumber, Text: ctl.Kind == stageview.ControlText,
			Placeholder: ctl.Placeholder, Value: ctl.Value, On: ctl.On(),
			Choices: ctl.Choices, Min: ctl.Min, Max: ctl.Max, Unit: ctl.Unit, Effect: ctl.Effect, Watch: ctl.Watch,
			Action: "/architecture/workshop/" + ctl.Key,
		})
	}
	a.Workshop = p
	markDiagram(&a.Diagram, controls)
}

// markDiagram draws the controls' effects on the diagram: a marked box
// (by its component, or when every flow through it is marked) and the
// arrows of a marked flow. Where marks meet, the weightier wins (a fault
// over a pause, over a slow-down, over an alteration). The diagram's
// description names the controls that are on, for those who do not see
// the drawing.
func markDiagram(d *web.Diagram, controls []stageview.Control) {
	var on []string
	for _, ctl := range controls {
		if ctl.On() {
			value := ctl.Value
			if ctl.Unit != "" {
				value += " " + ctl.Unit
			}
			on = append(on, ctl.Label+": "+value)
		}
	}
	if len(on) > 0 {
		d.Desc += " Workshop controls on — " + strings.Join(on, "; ") + "."
	}
	for _, ctl := range controls {
		for _, m := range ctl.Marks {
			for i := range d.Boxes {
				b := &d.Boxes[i]
				if markRank[m.State] > markRank[b.Mark] && (b.Component == m.Target || allFlows(b.Flow, m.Target)) {
					b.Mark, b.MarkText = m.State, m.Text
				}
			}
			for i := range d.Arrows {
				ar := &d.Arrows[i]
				if markRank[m.State] > markRank[ar.Mark] && allFlows(ar.Flow, m.Target) {
					ar.Mark = m.State
				}
			}
		}
	}
}

// markRank orders the marks by weight; no mark is 0.
var markRank = map[string]int{
	stageview.MarkIdle: 1, stageview.MarkAltered: 2, stageview.MarkSlow: 3, stageview.MarkPaused: 4, stageview.MarkFault: 5,
}

// allFlows tells whether flows (space-separated) is flow alone.
func allFlows(flows, flow string) bool {
	return flows != "" && flows == flow
}
