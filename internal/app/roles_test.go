package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/messaging/natstest"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
)

func TestParseRoles(t *testing.T) {
	for _, tc := range []struct {
		name, spec string
		want       []app.Role
		err        string
	}{
		{"empty_is_every_role", "", nil, ""},
		{"all_is_every_role", "all", nil, ""},
		{"every_role_listed_is_all", "projector,relay,commands,web", nil, ""},
		{"some_roles", "web, projector", []app.Role{app.RoleWeb, app.RoleProjector}, ""},
		{"unknown_role_is_refused", "web,reader", nil, `unknown role "reader"`},
		{"role_twice_is_refused", "web,web", nil, "listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := app.ParseRoles(tc.spec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseRoles(%q) = %v, %v; want an error with %q", tc.spec, got, err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("ParseRoles(%q) = %v, %v; want %v", tc.spec, got, err, tc.want)
			}
		})
	}
}

func TestRoleSetsThatCannotWorkAreRefused(t *testing.T) {
	const pg = "postgres://postgres@127.0.0.1:5432/x"
	split := func(roles ...app.Role) app.Config {
		return app.Config{Stage: 3, Roles: roles, CommandBus: "async", WriteDB: pg, ReadDB: pg, NATSURL: "nats://127.0.0.1:4222"}
	}
	for _, tc := range []struct {
		name string
		cfg  func() app.Config
		err  string // "" when the set works
	}{
		{"every_role_on_sqlite_works", func() app.Config { return app.Config{} }, ""},
		{"web_alone_async_without_write_database_works", func() app.Config {
			c := split(app.RoleWeb)
			c.WriteDB = ""
			return c
		}, ""},
		{"write_side_on_postgres_works", func() app.Config { return split(app.RoleCommands, app.RoleRelay, app.RoleProjector) }, ""},
		{"split_outside_stage_3", func() app.Config { c := split(app.RoleWeb); c.Stage = 2; return c }, "only stage 3 splits into roles"},
		{"split_on_embedded_nats", func() app.Config { c := split(app.RoleProjector); c.NATSURL = ""; return c }, "set --nats-url"},
		{"web_sync_without_write_database", func() app.Config {
			c := split(app.RoleWeb)
			c.CommandBus, c.WriteDB = "sync", ""
			return c
		}, "web with --command-bus=sync applies commands in the request"},
		{"relay_on_sqlite", func() app.Config { c := split(app.RoleRelay); c.WriteDB = ""; return c }, "--write-db postgres://"},
		{"projector_on_sqlite_read_database", func() app.Config { c := split(app.RoleProjector); c.ReadDB = ""; return c }, "--read-db postgres://"},
		{"replicas_on_the_embedded_nats", func() app.Config { return app.Config{StreamReplicas: 3} }, "needs a NATS cluster"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg().Validate()
			if tc.err == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Validate() = %v; want an error with %q", err, tc.err)
			}
		})
	}
}

// TestWebProcessQueuesCommandsWithoutWriteDatabase: a web process with the
// async command bus and no write database serves stage 3 only, queues
// commands (202) and says why it cannot read the write database.
func TestWebProcessQueuesCommandsWithoutWriteDatabase(t *testing.T) {
	url, namespace := natstest.Shared(t)
	if url == "" {
		t.Skip("a web process meets the others on an external NATS: set " + natstest.EnvNATS)
	}
	ctx := context.Background()
	a, err := app.New(ctx, app.Config{
		Stage: 3, Roles: []app.Role{app.RoleWeb}, CommandBus: "async", DataDir: t.TempDir(),
		ReadDB: sqltest.Postgres(t), NATSURL: url, BusNamespace: namespace,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.WriteDB.PingContext(ctx); err == nil || !strings.Contains(err.Error(), "no write database") {
		t.Errorf("the write database of a web process in async mode answered %v; want that there is none", err)
	}
	if got := a.Switch.Numbers(); !slices.Equal(got, []int{3}) {
		t.Errorf("a split process runs stages %v; want only 3 (live switches are refused)", got)
	}
	body := `{"id":"` + order.NewID().String() + `","customer":"Ada","address":"1 Loop Road","lines":[{"sku":"TEA-01","name":"Green tea","quantity":1,"unit_price_cents":100}]}`
	req := httptest.NewRequest(http.MethodPost, "/api/commands/place-order", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Host = "127.0.0.1"
	res, err := a.Server.App().Test(req, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Errorf("place-order answered %s; want 202 Accepted (queued on the command bus)", res.Status)
	}
	// What became of it is recorded in the write database, which this
	// process does not have: it says so, and to ask again.
	req = httptest.NewRequest(http.MethodGet, "/api/queries/commands/"+order.NewID().String(), nil)
	req.Host = "127.0.0.1"
	res, err = a.Server.App().Test(req, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("a command's status answered %s (Retry-After %q); want 503 with Retry-After", res.Status, res.Header.Get("Retry-After"))
	}
}
