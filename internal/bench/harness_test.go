package bench

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/messaging/natstest"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
)

// server is one Staircase running in process for a test or benchmark,
// reached over loopback HTTP as any client would.
type server struct {
	app    *app.App
	base   string
	client *Client
	// stop shuts the server down before tb ends (it is also done then):
	// so that one server's background work does not weigh on the next
	// one's measurement.
	stop func()
}

// startServer runs the app on a free loopback port until tb ends: SQLite
// in a temp folder (or fresh PostgreSQL databases for backend postgres),
// the embedded NATS server (or STAIRCASE_TEST_NATS's, in a namespace of
// its own).
func startServer(tb testing.TB, stage int, b sqltest.Backend) *server {
	tb.Helper()
	return startServerWith(tb, stage, b, nil)
}

// startServerWith is startServer with the config changed by set (if not
// nil) before the app starts: say, stage 3's async command bus.
func startServerWith(tb testing.TB, stage int, b sqltest.Backend, set func(*app.Config)) *server {
	tb.Helper()
	cfg := app.Config{Stage: stage, DataDir: tb.TempDir(), WriteDB: b.URL(tb), ReadDB: b.URL(tb)}
	if b.Name != "sqlite" {
		// The embedded default runs with its own NATS; the scaled-out
		// engines with the external one when it is given.
		cfg.NATSURL, cfg.BusNamespace = natstest.Shared(tb)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if set != nil {
		set(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg)
	if err != nil {
		cancel()
		tb.Fatalf("start app: %v", err)
	}
	if err := a.Ready(ctx); err != nil {
		cancel()
		a.Close()
		tb.Fatalf("prepare stage %d: %v", cfg.Stage, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		a.Close()
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	s := &server{app: a, base: base, client: NewClient(base, stage, newHTTPClient(16))}
	s.stop = sync.OnceFunc(func() {
		// Idle keep-alive connections left open would hold up the
		// server's graceful shutdown.
		s.client.http.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("serve: %v", err)
		}
		a.Close()
	})
	tb.Cleanup(s.stop)
	return s
}

// stageName names a stage's sub-benchmark or subtest as a key=value
// part, so that benchstat can put the stages side by side (-col /stage).
func stageName(n int) string { return "stage=" + strconv.Itoa(n) }

// envInt reads a positive whole number from the environment, or def.
func envInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		tb.Fatalf("%s must be a positive whole number, not %q", name, s)
	}
	return n
}
