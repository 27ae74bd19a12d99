// Package natstest gives tests a NATS JetStream server: the machine's, when
// STAIRCASE_TEST_NATS names it, under a namespace of the test's own whose
// streams are deleted when the test ends; otherwise an embedded server
// started for the test.
package natstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/registry"
)

// EnvNATS names the variable that holds an external NATS server's URL.
const EnvNATS = "STAIRCASE_TEST_NATS"

// Shared returns the external server and a fresh namespace, whose streams
// are deleted when the test ends; or "", "" when no external server is
// set (an app then starts its embedded one).
func Shared(tb testing.TB) (url, namespace string) {
	url = os.Getenv(EnvNATS)
	if url == "" {
		return "", ""
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	namespace = "t" + hex.EncodeToString(b) + "-"
	tb.Cleanup(func() {
		nc, err := nats.Connect(url)
		if err != nil {
			tb.Logf("clean up streams of %s: %v", namespace, err)
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
		_ = js.DeleteKeyValue(ctx, registry.Bucket(namespace))
	})
	return url, namespace
}

// Connect returns a connection, closed when the test ends, to the shared
// server under a fresh namespace, or to an embedded server started for
// the test (namespace "").
func Connect(tb testing.TB) (*nats.Conn, string) {
	tb.Helper()
	url, namespace := Shared(tb)
	if url == "" {
		e, err := messaging.StartEmbedded(context.Background(), messaging.EmbeddedConfig{Dir: filepath.Join(tb.TempDir(), "nats")},
			slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(e.Shutdown)
		nc, err := e.Connect()
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(nc.Close)
		return nc, ""
	}
	nc, err := messaging.Connect(url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return nc, namespace
}
