package bff

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/stageview"
)

// markingWorkshop has a text control and a switch whose values mark the
// diagram.
type markingWorkshop struct {
	poison string
	down   bool
	async  bool
}

func (m *markingWorkshop) Controls(context.Context) []stageview.Control {
	write, bus := "up", "sync"
	var writeMarks []stageview.Mark
	if m.down {
		write, writeMarks = "down", []stageview.Mark{{Target: "write-db", State: stageview.MarkFault, Text: "down"}}
	}
	idle := stageview.Mark{Target: "command-bus", State: stageview.MarkIdle}
	if m.async {
		bus, idle.Target = "async", "command-sync"
	}
	var poisonMarks []stageview.Mark
	if m.poison != "" {
		poisonMarks = []stageview.Mark{{Target: "projector", State: stageview.MarkFault, Text: "poisoned"}}
	}
	return []stageview.Control{
		// Always slowed: a poison's fault must outweigh it.
		{Key: "projector_delay_ms", Label: "Projector delay", Kind: stageview.ControlNumber, Value: "500", Default: "0", Max: 10000,
			Marks: []stageview.Mark{{Target: "projector", State: stageview.MarkSlow, Text: "+500 ms"}}},
		{Key: "write_db", Label: "Write database", Kind: stageview.ControlChoice, Value: write, Default: "up",
			Choices: []string{"up", "down"}, Marks: writeMarks},
		{Key: "command_bus", Label: "Command bus", Kind: stageview.ControlChoice, Value: bus, Default: "sync",
			Choices: []string{"sync", "async"}, Marks: []stageview.Mark{idle}},
		{Key: "poison_order", Label: "Poison an order", Kind: stageview.ControlText, Value: m.poison, Default: "",
			Placeholder: "an order ID", Effect: "Fails its events.", Watch: "Parked rises.", Marks: poisonMarks},
	}
}

func (m *markingWorkshop) SetControl(_ context.Context, key, value string) error {
	switch key {
	case "write_db":
		m.down = value == "down"
	case "command_bus":
		m.async = value == "async"
	case "poison_order":
		if value != "" {
			if _, err := uuid.Parse(value); err != nil {
				return &order.Error{Code: order.EINVALID, Message: "the value is not valid", Fields: []order.FieldError{{Field: "value", Message: "must be an order ID"}}}
			}
		}
		m.poison = value
	default:
		return order.Errorf(order.ENOTFOUND, "there is no workshop control %q", key)
	}
	return nil
}

// TestTheDiagramShowsTheControlsEffects: a control's marks are drawn on
// stage 3's diagram — a box marked with its label, the command path not
// taken faded — and follow the control's value.
func TestTheDiagramShowsTheControlsEffects(t *testing.T) {
	w := &markingWorkshop{}
	b := &browser{t: t, s: newWorkshopServer(t, w, Config{})}
	_, doc := b.do(http.MethodGet, "/architecture?stage=3", nil)
	box := func(component string) (mark, text string) {
		g := doc.Find(`[data-testid="diagram-box"][data-component="` + component + `"]`)
		return g.AttrOr("data-mark", ""), strings.TrimSpace(g.Find(`[data-testid="box-mark"]`).Text())
	}
	if mark, _ := box("write-db"); mark != "" {
		t.Errorf("write DB marked %q with the control off", mark)
	}
	if mark, _ := box("command-bus"); mark != stageview.MarkIdle {
		t.Errorf("in sync mode the command bus is %q, want idle", mark)
	}
	if mark, text := box("projector"); mark != stageview.MarkSlow || text != "+500 ms" {
		t.Errorf("the delayed projector: %q %q", mark, text)
	}
	if mark, _ := box("modify-api"); mark != "" {
		t.Errorf("the modify API is marked %q: it is on both paths", mark)
	}
	idleArrows := doc.Find(`[data-testid="diagram-arrow"][data-mark="idle"]`)
	idleArrows.Each(func(_ int, s *goquery.Selection) {
		if s.AttrOr("data-flow", "") != "command-bus" {
			t.Errorf("an idle arrow on flow %q in sync mode", s.AttrOr("data-flow", ""))
		}
	})
	if idleArrows.Length() == 0 {
		t.Error("no arrow of the command bus drawn idle in sync mode")
	}

	token := doc.Find(`[data-testid="workshop-control-write_db"] input[name="_csrf"]`).AttrOr("value", "")
	for control, value := range map[string]string{"write_db": "down", "command_bus": "async"} {
		if status, _ := b.do(http.MethodPost, "/architecture/workshop/"+control, url.Values{"_csrf": {token}, "value": {value}}); status != http.StatusSeeOther {
			t.Fatalf("set %s: %d", control, status)
		}
	}
	_, doc = b.do(http.MethodGet, "/architecture?stage=3", nil)
	if mark, text := box("write-db"); mark != stageview.MarkFault || text != "down" {
		t.Errorf("write DB down: mark %q, label %q", mark, text)
	}
	if mark, _ := box("command-bus"); mark != "" {
		t.Errorf("in async mode the command bus is %q", mark)
	}
	if desc := doc.Find(`[data-testid="diagram"] desc`).Text(); !strings.Contains(desc, "Workshop controls on — Projector delay: 500; Write database: down; Command bus: async.") {
		t.Errorf("the diagram's description does not name the controls on: %q", desc)
	}
	if doc.Find(`[data-testid="diagram-arrow"][data-flow="command-sync"][data-mark="idle"]`).Length() != 1 {
		t.Error("in async mode the sync command path is not drawn idle")
	}

	// The text control: a text input; a bad value is said beside it.
	input := doc.Find(`[data-testid="workshop-control-poison_order"] input[name="value"]`)
	if input.AttrOr("type", "") != "text" || input.AttrOr("placeholder", "") != "an order ID" ||
		!strings.Contains(doc.Find(`[data-testid="workshop-now-poison_order"]`).Text(), "none") {
		t.Fatalf("poison_order form: %s", doc.Find(`[data-testid="workshop-control-poison_order"]`).Text())
	}
	status, doc := b.do(http.MethodPost, "/architecture/workshop/poison_order", url.Values{"_csrf": {token}, "value": {"order 7"}})
	if status != http.StatusUnprocessableEntity || w.poison != "" ||
		doc.Find(`[data-testid="workshop-control-poison_order"] [data-testid="workshop-message"]`).Text() != "must be an order ID" {
		t.Fatalf("bad order ID: %d, poison %q", status, w.poison)
	}
	id := uuid.NewString()
	if status, _ := b.do(http.MethodPost, "/architecture/workshop/poison_order", url.Values{"_csrf": {token}, "value": {id}}); status != http.StatusSeeOther || w.poison != id {
		t.Fatalf("set poison_order: %d, %q", status, w.poison)
	}
	_, doc = b.do(http.MethodGet, "/architecture?stage=3", nil)
	// The fault outweighs the delay's mark.
	if mark, text := box("projector"); mark != stageview.MarkFault || text != "poisoned" {
		t.Errorf("projector poisoned: %q %q", mark, text)
	}
}
