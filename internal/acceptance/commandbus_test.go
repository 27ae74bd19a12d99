package acceptance

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/sqliteshim"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/messaging/natstest"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
)

// startAsync runs stage 3 with its command bus in async mode on backend b,
// and returns it with the write database's URL ("" for SQLite in dataDir)
// and the bus namespace.
func startAsync(t *testing.T, b sqltest.Backend) (e *env, writeURL, dataDir, namespace string) {
	t.Helper()
	natsURL, namespace := natstest.Shared(t)
	writeURL, dataDir = b.URL(t), t.TempDir()
	e = start(t, app.Config{Stage: 3, CommandBus: "async", WriteDB: writeURL, DataDir: dataDir, NATSURL: natsURL, BusNamespace: namespace})
	e.backend, e.api = b.Name, cqrsAPI{e}
	return e, writeURL, dataDir, namespace
}

// send posts a command and expects 202 Accepted; it returns where the
// command's status is.
func (e *env) send(t *testing.T, name string, body any) string {
	t.Helper()
	r := e.json(http.MethodPost, "/api/commands/"+name, body)
	if r.status != http.StatusAccepted {
		t.Fatalf("%s: status %d, want 202: %s", name, r.status, r.body)
	}
	acc := decode[accepted](t, r)
	if acc.CommandID == "" || r.header.Get("Location") != "/api/queries/commands/"+acc.CommandID {
		t.Fatalf("%s: 202 with %s, Location %q", name, r.body, r.header.Get("Location"))
	}
	return r.header.Get("Location")
}

func TestCommandRejectedAfterAcceptIsShownOnTheOrder(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run("stage3-async/"+b.Name, func(t *testing.T) {
			t.Parallel()
			e, _, _, _ := startAsync(t, b)
			id := placed(t, e, "Late Canceller")
			seen(t, e, id, must(t, "ship", e.api.ship(id, 0), http.StatusNoContent).version)

			st := e.settled(e.send(t, "cancel-order", map[string]any{"id": id, "reason": "too late"}))
			if st.Status != "rejected" || st.OrderID != id || st.Type != "CancelOrder" || st.Version != 2 {
				t.Fatalf("status of the cancel: %+v", st)
			}
			p := decode[problem](t, response{body: st.Problem})
			if p.Status != http.StatusConflict || p.Code != "conflict" || p.CurrentVersion != 2 || !strings.Contains(p.Detail, "cannot cancel") {
				t.Fatalf("problem of the rejected cancel: %s", st.Problem)
			}
			const want = "rejected: cannot cancel an order that is shipped"
			d := decode[httpapi.OrderDetail](t, e.json(http.MethodGet, "/api/queries/orders/"+id, nil))
			if d.Rejection != want || d.Status != "shipped" {
				t.Fatalf("order detail after the rejection: %+v", d)
			}
			br := browser{e}
			doc, r := br.page(t, "/orders/"+id)
			if got := strings.TrimSpace(doc.Find(`[data-testid="rejection"]`).Text()); r.status != http.StatusOK || got != want {
				t.Fatalf("order page: %d, rejection %q", r.status, got)
			}

			// The same through the page: accepted at once, rejected later.
			_, r = br.post(t, "/orders/"+id+"/cancel", url.Values{"_csrf": {csrfToken(t, doc)}, "expected_version": {"2"}})
			loc := r.header.Get("Location")
			if r.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/orders/"+id+"?done=accepted") {
				t.Fatalf("cancel through the page: %d Location %q", r.status, loc)
			}
			doc, _ = br.page(t, loc)
			if got := strings.TrimSpace(doc.Find(`[data-testid="flash"]`).Text()); got != "Accepted — it will be applied shortly." {
				t.Fatalf("flash after an accepted command: %q", got)
			}
		})
	}
}

func TestCommandStatusOfAnUnknownOrMalformedID(t *testing.T) {
	b := sqltest.Backends()[0]
	e, _, _, _ := startAsync(t, b)
	r := e.json(http.MethodGet, "/api/queries/commands/"+newID(), nil)
	if st := decode[commandStatus](t, r); r.status != http.StatusOK || st.Status != "queued" {
		t.Fatalf("a command nobody sent: %d %s", r.status, r.body)
	}
	r = e.json(http.MethodGet, "/api/queries/commands/not-a-uuid", nil)
	if r.status != http.StatusNotFound || r.problem(t).Code != "not_found" {
		t.Fatalf("a malformed command ID: %d %s", r.status, r.body)
	}
}

// TestCommandsWaitOnTheBusWhileTheWriteDatabaseIsDown takes the database
// of record away with orders placed, sends commands (all accepted at once),
// reads from the read database meanwhile, brings the database back, and
// checks that every command was applied, in the order sent, and none twice.
func TestCommandsWaitOnTheBusWhileTheWriteDatabaseIsDown(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run("stage3-async/"+b.Name, func(t *testing.T) {
			t.Parallel()
			e, writeURL, dataDir, namespace := startAsync(t, b)
			a, bID := placed(t, e, "Down Alice"), placed(t, e, "Down Bob")

			var restore func()
			if b.Name == "postgres" {
				restore = postgresDown(t, writeURL)
			} else {
				restore = sqliteDown(t, e, filepath.Join(dataDir, "write.db"))
			}
			t.Cleanup(restore) // if the test fails while the database is down

			c, d := newID(), newID()
			type sent struct {
				loc     string
				order   string
				version int // the version the command must make
			}
			var cmds []sent
			send := func(name, order string, version int, body any) {
				cmds = append(cmds, sent{e.send(t, name, body), order, version})
			}
			lines := func(qty int) map[string]any {
				return map[string]any{"id": a, "lines": []httpapi.Line{tea(qty)}}
			}
			send("place-order", c, 1, request(c, "Down Carol"))
			send("change-order-lines", a, 2, lines(1))
			send("ship-order", bID, 2, map[string]any{"id": bID})
			send("change-order-lines", a, 3, lines(2))
			send("place-order", d, 1, request(d, "Down Dave"))
			send("change-order-lines", a, 4, lines(3))
			send("change-order-lines", a, 5, lines(4))

			// The first command fails against the database and goes back to
			// the bus: proof that the database is really down for it.
			redelivered(t, e, namespace)

			// Reads go on from the read database.
			if o, found := e.api.get(a); !found || o.Version != 1 {
				t.Fatalf("read of an order while the write database is down: %+v", o)
			}
			if p, r := e.api.list(url.Values{"q": {"Down "}}); r.status != http.StatusOK || len(p.ids) != 2 {
				t.Fatalf("list while the write database is down: %d %v", r.status, p.ids)
			}
			if _, r := (browser{e}).page(t, "/orders/"+a); r.status != http.StatusOK {
				t.Fatalf("order page while the write database is down: %d", r.status)
			}
			r := e.json(http.MethodGet, cmds[0].loc, nil)
			switch r.status {
			case http.StatusOK:
				if st := decode[commandStatus](t, r); st.Status != "queued" {
					t.Fatalf("a command while the write database is down: %s", r.body)
				}
			case http.StatusServiceUnavailable:
				r.problem(t)
			default:
				t.Fatalf("command status while the write database is down: %d %s", r.status, r.body)
			}

			restore()
			for i, cmd := range cmds {
				st := e.settled(cmd.loc)
				if st.Status != "applied" || st.OrderID != cmd.order || st.Version != cmd.version {
					t.Fatalf("command %d: %+v, want applied at version %d of %s", i, st, cmd.version, cmd.order)
				}
			}
			o := seen(t, e, a, 5)
			if o.Version != 5 || len(o.Lines) != 1 || o.Lines[0].Quantity != 4 {
				t.Fatalf("order after its queued changes: %+v", o)
			}
			if o := seen(t, e, bID, 2); o.Status != "shipped" {
				t.Fatalf("shipped order: %+v", o)
			}
			seen(t, e, c, 1)
			seen(t, e, d, 1)

			// None applied twice: one change-log entry per version.
			ctx := context.Background()
			for id, want := range map[string]int{a: 5, bID: 2, c: 1, d: 1} {
				n, err := e.app.WriteDB.NewSelect().Table("change_log").Where("order_id = ?", id).Count(ctx)
				if err != nil || int(n) != want {
					t.Fatalf("order %s: %d change-log entries (%v), want %d", id, n, err, want)
				}
			}
		})
	}
}

// redelivered waits until the command handler's consumer has sent a
// command again after a failure.
func redelivered(t *testing.T, e *env, namespace string) {
	t.Helper()
	js, err := jetstream.New(e.app.NATS)
	if err != nil {
		t.Fatal(err)
	}
	stream := messaging.StreamName(namespace + messaging.CommandsTopic)
	consumer := messaging.ConsumerName(namespace + messaging.CommandHandlerGroup)
	eventually(t, "a command redelivered after the write failed", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := js.Consumer(ctx, stream, consumer)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumRedelivered > 0
	})
}

// sqliteDown makes the SQLite write database refuse writes: a separate
// connection holds an exclusive lock on the file, and the app's connections
// are told to wait for a lock only briefly (10 s by default, which would
// make the test slow). Readers of the file go on (WAL mode).
func sqliteDown(t *testing.T, e *env, path string) (restore func()) {
	t.Helper()
	ctx := context.Background()
	// Every connection of the app's pool (4 at most) at once, so each gets
	// the short busy timeout.
	var conns []bun.Conn
	for range 4 {
		c, err := e.app.WriteDB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ExecContext(ctx, "PRAGMA busy_timeout = 200"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close()
	}
	locker, err := sql.Open(sqliteshim.ShimName, "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := locker.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	done := false
	return func() {
		if done {
			return
		}
		done = true
		if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
			t.Errorf("release the lock: %v", err)
		}
		conn.Close()
		locker.Close()
	}
}

// postgresDown makes the PostgreSQL write database refuse connections and
// ends the ones it has.
func postgresDown(t *testing.T, dbURL string) (restore func()) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	admin, err := sql.Open("pgx", os.Getenv(sqltest.EnvPostgres))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS false"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name); err != nil {
		t.Fatal(err)
	}
	done := false
	return func() {
		if done {
			return
		}
		done = true
		if _, err := admin.ExecContext(ctx, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS true"); err != nil {
			t.Errorf("allow connections again: %v", err)
		}
		admin.Close()
	}
}
