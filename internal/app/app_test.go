package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/command"
)

// TestTwoInstancesOnOneDataDir: the second is refused before it opens
// anything, so the first's SQLite files and NATS store stay whole; once the
// first closes, the dir is free.
func TestTwoInstancesOnOneDataDir(t *testing.T) {
	ctx := context.Background()
	cfg := app.Config{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	first, err := app.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.New(ctx, cfg); !errors.Is(err, sqlstore.ErrDataDirInUse) {
		t.Fatalf("second instance on the same data dir: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := app.New(ctx, cfg)
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	again.Close()
}

// TestStage3StartsOverARowItCannotRead: a stale read database is rebuilt
// at start-up; a change-log row of a schema this version does not know (a
// newer instance's, in a rolling upgrade) is parked in the error log, and
// the app starts and serves instead of exiting.
func TestStage3StartsOverARowItCannotRead(t *testing.T) {
	ctx := context.Background()
	cfg := app.Config{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	write, err := app.OpenWrite(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := command.New(command.NewRepository(write, command.WithChangeLog(changelog.Hook())))
	id := order.NewID()
	if _, err := h.PlaceOrder(ctx, order.PlaceOrder{ID: id, Customer: "Ada", Address: "1 Main St",
		Lines: []order.Line{{SKU: "TEA-01", Name: "Green tea", Quantity: 2, UnitPriceCents: 250}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := write.NewRaw("INSERT INTO change_log (event_id, order_id, order_version, type, schema_version, payload, occurred_at)"+
		" VALUES (?, ?, 2, 'OrderShipped', 99, '{}', ?)", order.NewID(), id, time.Now()).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	write.Close()

	cfg.Stage = 3
	a, err := app.New(ctx, cfg)
	if err != nil {
		t.Fatalf("serve --stage 3 over an unreadable row: %v", err)
	}
	defer a.Close()
	if err := a.Ready(ctx); err != nil {
		t.Fatalf("entering stage 3 over an unreadable row: %v", err)
	}
	entries, err := a.Stage3.ErrorLog().List(ctx, "")
	if err != nil || len(entries) == 0 {
		t.Fatalf("error log after start-up: %d entries, %v", len(entries), err)
	}
	eventually(t, func() bool {
		d, err := a.Stage3.OrderDetail(ctx, id)
		return err == nil && d.Version == 1
	})
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("gave up waiting")
		}
	}
}

// TestServeWarnsWhenItIsOpenBeyondThisMachine: a non-loopback --addr
// without an admin token is warned about at start.
func TestServeWarnsWhenItIsOpenBeyondThisMachine(t *testing.T) {
	for _, c := range []struct {
		cfg  app.Config
		want int
	}{
		{app.Config{Addr: "127.0.0.1:8080"}, 0},
		{app.Config{Addr: "localhost:8080"}, 0},
		{app.Config{Addr: "[::1]:8080"}, 0},
		{app.Config{Addr: "192.168.1.5:8080"}, 1},
		{app.Config{Addr: "192.168.1.5:8080", AdminToken: "t"}, 0},
		{app.Config{Addr: "0.0.0.0:8080"}, 2},
		{app.Config{Addr: ":8080", AdminToken: "t"}, 1},
		{app.Config{Addr: ":8080", AdminToken: "t", AllowedHosts: []string{"shop.example"}}, 0},
	} {
		if got := c.cfg.Exposure(); len(got) != c.want {
			t.Errorf("%s, token %q, hosts %q: %d warnings %q, want %d", c.cfg.Addr, c.cfg.AdminToken, c.cfg.AllowedHosts, len(got), got, c.want)
		}
	}
}

// TestWorkshopControlsOnlyWithTheFlag: the workshop API answers with
// Workshop set, 404 without; the controls start off on every start.
func TestWorkshopControlsOnlyWithTheFlag(t *testing.T) {
	ctx := context.Background()
	for _, on := range []bool{false, true} {
		a, err := app.New(ctx, app.Config{DataDir: t.TempDir(), Workshop: on, AdminToken: "workshop-admin", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/api/admin/workshop", nil)
		req.Header.Set("Authorization", "Bearer workshop-admin")
		resp, err := a.Server.App().Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		if resp.StatusCode != want || on && !strings.Contains(string(body), `"projector_delay_ms"`) {
			t.Errorf("workshop %v: %d %s, want %d", on, resp.StatusCode, body, want)
		}
		a.Close()
	}
}
