package bff

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/stageview"
)

// fakeWorkshop has a number control and a switch.
type fakeWorkshop struct {
	delay  int
	paused bool
}

func (f *fakeWorkshop) Controls(context.Context) []stageview.Control {
	projector := "running"
	if f.paused {
		projector = "paused"
	}
	return []stageview.Control{
		{Key: "projector_delay_ms", Label: "Projector delay", Kind: stageview.ControlNumber, Value: strconv.Itoa(f.delay), Default: "0",
			Min: 0, Max: 10000, Unit: "ms", Effect: "Every event waits.", Watch: "The lag grows."},
		{Key: "projector", Label: "Projector", Kind: stageview.ControlChoice, Value: projector, Default: "running",
			Choices: []string{"running", "paused"}, Effect: "Applies nothing.", Watch: "The backlog grows."},
	}
}

func (f *fakeWorkshop) SetControl(_ context.Context, key, value string) error {
	bad := &order.Error{Code: order.EINVALID, Message: "the value is not valid", Fields: []order.FieldError{{Field: "value", Message: "out of range"}}}
	switch key {
	case "projector_delay_ms":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 || n > 10000 {
			return bad
		}
		f.delay = n
	case "projector":
		if value != "running" && value != "paused" {
			return bad
		}
		f.paused = value == "paused"
	default:
		return order.Errorf(order.ENOTFOUND, "there is no workshop control %q", key)
	}
	return nil
}

// newWorkshopServer runs stages 0 and 3 (0 active), with w as stage 3's
// workshop controls when it is not nil.
func newWorkshopServer(t *testing.T, w Workshop, cfg Config) *Server {
	t.Helper()
	sw, err := NewSwitch(map[int]Stage{0: fakeStage{}, 3: errorLogStage{ErrorLog: testEntries()}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Switch, cfg.Descriptions, cfg.Logger = sw, Infos, slog.New(slog.NewTextHandler(io.Discard, nil))
	if w != nil {
		cfg.Workshop, cfg.WorkshopStage = w, 3
	}
	s, err := New(testConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWithoutWorkshopTheControlsAnswerNotFound(t *testing.T) {
	s := newWorkshopServer(t, nil, Config{})
	if a := call(t, s, http.MethodGet, "/api/admin/workshop", "", ""); a.status != http.StatusNotFound || a.ctype != "application/problem+json" {
		t.Errorf("GET: %d %s", a.status, a.body)
	}
	if a := call(t, s, http.MethodPut, "/api/admin/workshop/projector", "application/json", `{"value": "paused"}`); a.status != http.StatusNotFound {
		t.Errorf("PUT: %d %s", a.status, a.body)
	}
	if _, doc := get(t, s, "/architecture?stage=3"); doc.Find(`[data-testid="workshop-panel"]`).Length() != 0 {
		t.Error("a workshop panel without --workshop")
	}
}

func TestTheWorkshopAPIListsAndSetsControls(t *testing.T) {
	w := &fakeWorkshop{}
	s := newWorkshopServer(t, w, Config{})
	a := call(t, s, http.MethodGet, "/api/admin/workshop", "", "")
	var list struct {
		Stage    int           `json:"stage"`
		Controls []controlJSON `json:"controls"`
	}
	if a.status != http.StatusOK || json.Unmarshal(a.body, &list) != nil {
		t.Fatalf("GET: %d %s", a.status, a.body)
	}
	if list.Stage != 3 || len(list.Controls) != 2 || list.Controls[0].Key != "projector_delay_ms" || list.Controls[0].Value != "0" ||
		list.Controls[0].On || list.Controls[0].Watch == "" || list.Controls[0].Max == nil || *list.Controls[0].Max != 10000 ||
		len(list.Controls[1].Choices) != 2 {
		t.Fatalf("list: %s", a.body)
	}

	a = call(t, s, http.MethodPut, "/api/admin/workshop/projector_delay_ms", "application/json", `{"value": 250}`)
	var got controlJSON
	if a.status != http.StatusOK || json.Unmarshal(a.body, &got) != nil || got.Value != "250" || !got.On || w.delay != 250 {
		t.Fatalf("PUT a number: %d %s, delay %d", a.status, a.body, w.delay)
	}
	if a = call(t, s, http.MethodPut, "/api/admin/workshop/projector", "application/json", `{"value": "paused"}`); a.status != http.StatusOK || !w.paused {
		t.Fatalf("PUT a choice: %d %s", a.status, a.body)
	}
	for _, bad := range []struct {
		target, body string
		status       int
	}{
		{"/api/admin/workshop/projector_delay_ms", `{"value": 10001}`, http.StatusUnprocessableEntity},
		{"/api/admin/workshop/projector_delay_ms", `{"value": "soon"}`, http.StatusUnprocessableEntity},
		{"/api/admin/workshop/projector", `{"value": "stopped"}`, http.StatusUnprocessableEntity},
		{"/api/admin/workshop/projector", `{}`, http.StatusUnprocessableEntity},
		{"/api/admin/workshop/projector", `{"value": true}`, http.StatusUnprocessableEntity},
		{"/api/admin/workshop/no_such_control", `{"value": "1"}`, http.StatusNotFound},
	} {
		if a := call(t, s, http.MethodPut, bad.target, "application/json", bad.body); a.status != bad.status || a.ctype != "application/problem+json" {
			t.Errorf("PUT %s %s: %d %s, want %d problem", bad.target, bad.body, a.status, a.body, bad.status)
		}
	}
	if w.delay != 250 || !w.paused {
		t.Errorf("refused values changed the controls: %+v", w)
	}
	// Set back.
	if a = call(t, s, http.MethodPut, "/api/admin/workshop/projector_delay_ms", "application/json", `{"value": "0"}`); a.status != http.StatusOK || w.delay != 0 {
		t.Fatalf("PUT back: %d %s", a.status, a.body)
	}
}

func TestTheWorkshopControlsAreAdminActions(t *testing.T) {
	w := &fakeWorkshop{}
	s := newWorkshopServer(t, w, Config{AdminToken: "s3cret-admin"})
	if a := call(t, s, http.MethodGet, "/api/admin/workshop", "", ""); a.status != http.StatusUnauthorized {
		t.Errorf("GET without the token: %d", a.status)
	}
	if a := call(t, s, http.MethodPut, "/api/admin/workshop/projector", "application/json", `{"value": "paused"}`); a.status != http.StatusUnauthorized || w.paused {
		t.Errorf("PUT without the token: %d, paused %v", a.status, w.paused)
	}
	if a := call(t, s, http.MethodPut, "/api/admin/workshop/projector", "application/json", `{"value": "paused"}`, bearer("s3cret-admin")...); a.status != http.StatusOK || !w.paused {
		t.Errorf("PUT with the token: %d, paused %v", a.status, w.paused)
	}
	// Without an admin token, only from this machine.
	remote := newWorkshopServer(t, w, Config{isLocal: func(net.IP) bool { return false }})
	if a := call(t, remote, http.MethodPut, "/api/admin/workshop/projector", "application/json", `{"value": "running"}`); a.status != http.StatusForbidden || !w.paused {
		t.Errorf("PUT from elsewhere: %d, paused %v", a.status, w.paused)
	}
	if a := call(t, remote, http.MethodGet, "/api/admin/workshop", "", ""); a.status != http.StatusForbidden {
		t.Errorf("GET from elsewhere: %d", a.status)
	}
}

func TestTheArchitecturePageShowsAndSetsTheWorkshopControls(t *testing.T) {
	w := &fakeWorkshop{}
	b := &browser{t: t, s: newWorkshopServer(t, w, Config{})}
	status, doc := b.do(http.MethodGet, "/architecture", nil)
	if status != http.StatusOK || doc.Find(`[data-testid="workshop-panel"]`).Length() != 0 {
		t.Fatalf("stage 0's page: %d, with a workshop panel", status)
	}
	status, doc = b.do(http.MethodGet, "/architecture?stage=3", nil)
	panel := doc.Find(`[data-testid="workshop-panel"]`)
	if status != http.StatusOK || panel.Length() != 1 {
		t.Fatalf("stage 3's page: %d, %d panels", status, panel.Length())
	}
	delay := panel.Find(`[data-testid="workshop-control-projector_delay_ms"]`)
	if delay.AttrOr("action", "") != "/architecture/workshop/projector_delay_ms" || delay.AttrOr("data-on", "") != "false" ||
		delay.Find(`input[name="value"]`).AttrOr("value", "") != "0" {
		t.Fatalf("delay form: %s", delay.Text())
	}
	token := delay.Find(`input[name="_csrf"]`).AttrOr("value", "")
	if token == "" {
		t.Fatal("a control's form without a CSRF token")
	}
	if status, _ := b.do(http.MethodPost, "/architecture/workshop/projector_delay_ms", url.Values{"value": {"300"}}); status != http.StatusForbidden || w.delay != 0 {
		t.Errorf("no CSRF token: %d, delay %d", status, w.delay)
	}
	status, doc = b.do(http.MethodPost, "/architecture/workshop/projector_delay_ms", url.Values{"_csrf": {token}, "value": {"300"}})
	if status != http.StatusSeeOther || w.delay != 300 {
		t.Fatalf("set: %d, delay %d", status, w.delay)
	}
	_, doc = b.do(http.MethodGet, "/architecture?stage=3", nil)
	delay = doc.Find(`[data-testid="workshop-control-projector_delay_ms"]`)
	if delay.AttrOr("data-on", "") != "true" || delay.Find(`input[name="value"]`).AttrOr("value", "") != "300" {
		t.Errorf("after the set: %s", delay.Text())
	}
	projector := doc.Find(`[data-testid="workshop-control-projector"]`)
	if projector.Find(`option[selected]`).AttrOr("value", "") != "running" || projector.Find(`.workshop-watch`).Length() != 1 {
		t.Errorf("projector form: %s", projector.Text())
	}
	status, doc = b.do(http.MethodPost, "/architecture/workshop/projector_delay_ms", url.Values{"_csrf": {token}, "value": {"-5"}})
	if status != http.StatusUnprocessableEntity || w.delay != 300 || doc.Find(`[data-testid="workshop-message"]`).Text() != "out of range" {
		t.Errorf("bad value: %d, delay %d, message %q", status, w.delay, doc.Find(`[data-testid="workshop-message"]`).Text())
	}
	if status, _ = b.do(http.MethodPost, "/architecture/workshop/projector_delay_ms", url.Values{"_csrf": {token}, "value": {"0"}}); status != http.StatusSeeOther || w.delay != 0 {
		t.Errorf("set back: %d, delay %d", status, w.delay)
	}
}
