package messaging

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func testLogger() *slog.Logger {
	if os.Getenv("STAIRCASE_TEST_NATS_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// onPort is how the tests start an embedded server: on a TCP port (listen,
// "127.0.0.1:0" for a free one) with credentials, so that they can reach it
// by URL as they would an external server.
func onPort(dir, listen string) EmbeddedConfig {
	return EmbeddedConfig{Dir: dir, Listen: listen, User: "staircase", Password: "test-secret"}
}

// startEmbedded starts an embedded server on dir, shut down at the end of the test.
func startEmbedded(t *testing.T, dir string) *Embedded {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := StartEmbedded(ctx, onPort(dir, "127.0.0.1:0"), testLogger())
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

// connect connects to url, closed at the end of the test.
func connect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := Connect(url, nats.RetryOnFailedConnect(false))
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}
