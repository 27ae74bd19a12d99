package messaging

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestTheEmbeddedBusOpensNoPortByDefault: no other process can reach it,
// so none can publish a forged event; the app reaches it in-process.
func TestTheEmbeddedBusOpensNoPortByDefault(t *testing.T) {
	e, err := StartEmbedded(context.Background(), EmbeddedConfig{Dir: t.TempDir()}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	if e.Listening() || e.URL() != "" {
		t.Fatalf("listening %v on %q", e.Listening(), e.URL())
	}
	nc, err := e.Connect(nats.RetryOnFailedConnect(false))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(context.Background()); err != nil {
		t.Fatalf("JetStream in-process: %v", err)
	}
}

// TestTheEmbeddedBusOnAPortTakesOnlyItsCredentials: asked to listen, it
// refuses to without a password, and then refuses connections without it.
func TestTheEmbeddedBusOnAPortTakesOnlyItsCredentials(t *testing.T) {
	if _, err := StartEmbedded(context.Background(), EmbeddedConfig{Dir: t.TempDir(), Listen: "127.0.0.1:0"}, testLogger()); err == nil ||
		!strings.Contains(err.Error(), "password") {
		t.Fatalf("listen without credentials: %v", err)
	}
	e := startEmbedded(t, t.TempDir())
	u, err := url.Parse(e.URL())
	if err != nil || !e.Listening() {
		t.Fatalf("URL %q (%v), listening %v", e.URL(), err, e.Listening())
	}
	for _, bad := range []string{"nats://" + u.Host, "nats://staircase:guess@" + u.Host, "nats://token@" + u.Host} {
		if nc, err := nats.Connect(bad, nats.RetryOnFailedConnect(false)); err == nil {
			nc.Close()
			t.Fatalf("%s connected", bad)
		}
	}
	nc, _ := connect(t, e.URL())
	if !nc.IsConnected() {
		t.Fatal("the credentials in URL did not connect")
	}
}
