package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
)

// server is one Staircase running in process for a test or benchmark,
// reached over loopback HTTP as any client would.
type server struct {
	app    *app.App
	base   string
	client *Client
}

// startServer runs the app on a free loopback port until tb ends: SQLite
// in a temp folder (or fresh PostgreSQL databases for backend postgres),
// the embedded NATS server (or STAIRCASE_TEST_NATS's, in a namespace of
// its own).
func startServer(tb testing.TB, stage int, b sqltest.Backend) *server {
	tb.Helper()
	cfg := app.Config{Stage: stage, DataDir: tb.TempDir(), WriteDB: b.URL(tb), ReadDB: b.URL(tb)}
	cfg.NATSURL, cfg.BusNamespace = sharedBus(tb)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg)
	if err != nil {
		cancel()
		tb.Fatalf("start app: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		a.Close()
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("serve: %v", err)
		}
		a.Close()
	})
	base := "http://" + ln.Addr().String()
	s := &server{app: a, base: base, client: NewClient(base, stage, newHTTPClient(16))}
	// Runs before the shutdown above: idle keep-alive connections would hold
	// up the server's graceful shutdown.
	tb.Cleanup(s.client.http.CloseIdleConnections)
	return s
}

// stageName names a stage's sub-benchmark or subtest.
func stageName(n int) string { return "stage" + strconv.Itoa(n) }

// envNATS names the variable that holds an external NATS server's URL.
const envNATS = "STAIRCASE_TEST_NATS"

// sharedBus returns the external NATS server and a namespace of this
// test's own, whose streams are deleted when it ends; or nothing, for the
// embedded server.
func sharedBus(tb testing.TB) (url, namespace string) {
	url = os.Getenv(envNATS)
	if url == "" {
		return "", ""
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	namespace = "b" + hex.EncodeToString(b) + "-"
	tb.Cleanup(func() {
		nc, err := nats.Connect(url)
		if err != nil {
			tb.Logf("clean up streams: %v", err)
			return
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, topic := range []string{messaging.EventsTopic, messaging.CommandsTopic} {
			_ = js.DeleteStream(ctx, messaging.StreamName(namespace+topic))
		}
	})
	return url, namespace
}

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
