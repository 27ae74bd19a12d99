package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/order"
)

// workshopApp runs the whole app in stage 3 with the workshop controls
// and an admin token.
func workshopApp(t *testing.T, workshop bool) *app.App {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	a, err := app.New(ctx, app.Config{DataDir: t.TempDir(), Stage: 3, Workshop: workshop, AdminToken: "workshop-admin",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if err := a.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	return a
}

type answer struct {
	status int
	ctype  string
	body   string
}

// send sends a JSON request, with the admin token when admin is set.
func send(t *testing.T, a *app.App, method, target, body string, admin bool) answer {
	t.Helper()
	req := httptest.NewRequest(method, "http://127.0.0.1"+target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if admin {
		req.Header.Set("Authorization", "Bearer workshop-admin")
	}
	resp, err := a.Server.App().Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: string(b)}
}

func placeBody() string {
	return `{"id": "` + order.NewID().String() + `", "customer": "Ada", "address": "1 Loop Rd",
		"lines": [{"sku": "A-1", "name": "Widget", "quantity": 1, "unit_price_cents": 100}]}`
}

// TestWorkshopAPIControls: every stage 3 control is listed and set through
// the admin API; bad values are 422 problems and change nothing; without
// the token nothing changes; the command bus switch takes effect on the
// next command (202, then 201 again).
func TestWorkshopAPIControls(t *testing.T) {
	a := workshopApp(t, true)
	list := send(t, a, http.MethodGet, "/api/admin/workshop", "", true)
	var got struct {
		Controls []struct {
			Key, Value, Kind string
			On               bool
		} `json:"controls"`
	}
	if list.status != http.StatusOK || json.Unmarshal([]byte(list.body), &got) != nil {
		t.Fatalf("GET: %d %s", list.status, list.body)
	}
	want := []string{"projector_delay_ms", "projector", "relay", "write_db", "command_bus",
		"duplicate_deliveries_pct", "reorder_deliveries", "poison_order", "legacy_events"}
	if len(got.Controls) != len(want) {
		t.Fatalf("controls: %s", list.body)
	}
	for i, c := range got.Controls {
		if c.Key != want[i] || c.On {
			t.Errorf("control %d: %+v, want %s, off", i, c, want[i])
		}
	}

	for _, bad := range []struct{ control, body string }{
		{"poison_order", `{"value": "not-an-order"}`},
		{"poison_order", `{"value": 42}`},
		{"poison_order", `{"value": "00000000-0000-0000-0000-000000000000"}`},
		{"duplicate_deliveries_pct", `{"value": 101}`},
		{"duplicate_deliveries_pct", `{"value": -1}`},
		{"reorder_deliveries", `{"value": "maybe"}`},
		{"legacy_events", `{"value": "yes"}`},
		{"command_bus", `{"value": "fast"}`},
	} {
		r := send(t, a, http.MethodPut, "/api/admin/workshop/"+bad.control, bad.body, true)
		if r.status != http.StatusUnprocessableEntity || r.ctype != "application/problem+json" || !strings.Contains(r.body, `"value"`) {
			t.Errorf("PUT %s %s: %d %s, want a 422 problem naming the value", bad.control, bad.body, r.status, r.body)
		}
	}

	id := order.NewID().String()
	if r := send(t, a, http.MethodPut, "/api/admin/workshop/poison_order", `{"value": "`+id+`"}`, false); r.status != http.StatusUnauthorized {
		t.Errorf("PUT without the token: %d %s", r.status, r.body)
	}
	if r := send(t, a, http.MethodPut, "/api/admin/workshop/poison_order", `{"value": "`+id+`"}`, true); r.status != http.StatusOK ||
		!strings.Contains(r.body, `"value":"`+id+`"`) || !strings.Contains(r.body, `"on":true`) {
		t.Errorf("PUT poison_order: %d %s", r.status, r.body)
	}
	if r := send(t, a, http.MethodPut, "/api/admin/workshop/poison_order", `{"value": ""}`, true); r.status != http.StatusOK || !strings.Contains(r.body, `"on":false`) {
		t.Errorf("clear poison_order: %d %s", r.status, r.body)
	}
	for control, value := range map[string]string{"duplicate_deliveries_pct": "25", "reorder_deliveries": `true`, "legacy_events": `"true"`} {
		if r := send(t, a, http.MethodPut, "/api/admin/workshop/"+control, `{"value": `+value+`}`, true); r.status != http.StatusOK || !strings.Contains(r.body, `"on":true`) {
			t.Errorf("PUT %s: %d %s", control, r.status, r.body)
		}
	}

	// The command bus, switched live.
	if r := send(t, a, http.MethodPost, "/api/commands/place-order", placeBody(), false); r.status != http.StatusCreated {
		t.Fatalf("place-order in sync mode: %d %s", r.status, r.body)
	}
	if r := send(t, a, http.MethodPut, "/api/admin/workshop/command_bus", `{"value": "async"}`, false); r.status != http.StatusUnauthorized {
		t.Errorf("switch without the token: %d", r.status)
	}
	if r := send(t, a, http.MethodPost, "/api/commands/place-order", placeBody(), false); r.status != http.StatusCreated {
		t.Fatalf("place-order after a refused switch: %d %s", r.status, r.body)
	}
	if r := send(t, a, http.MethodPut, "/api/admin/workshop/command_bus", `{"value": "async"}`, true); r.status != http.StatusOK {
		t.Fatalf("switch to async: %d %s", r.status, r.body)
	}
	if r := send(t, a, http.MethodPost, "/api/commands/place-order", placeBody(), false); r.status != http.StatusAccepted {
		t.Fatalf("place-order right after the switch to async: %d %s", r.status, r.body)
	}
	if r := send(t, a, http.MethodPut, "/api/admin/workshop/command_bus", `{"value": "sync"}`, true); r.status != http.StatusOK {
		t.Fatalf("switch to sync: %d %s", r.status, r.body)
	}
	if r := send(t, a, http.MethodPost, "/api/commands/place-order", placeBody(), false); r.status != http.StatusCreated {
		t.Fatalf("place-order right after the switch to sync: %d %s", r.status, r.body)
	}
}

// TestWorkshopAPIWithoutTheFlag: without --workshop every control answers
// 404, even to the admin.
func TestWorkshopAPIWithoutTheFlag(t *testing.T) {
	a := workshopApp(t, false)
	for _, control := range []string{"command_bus", "duplicate_deliveries_pct", "reorder_deliveries", "poison_order", "legacy_events"} {
		if r := send(t, a, http.MethodPut, "/api/admin/workshop/"+control, `{"value": "1"}`, true); r.status != http.StatusNotFound || r.ctype != "application/problem+json" {
			t.Errorf("PUT %s without --workshop: %d %s", control, r.status, r.body)
		}
	}
}
