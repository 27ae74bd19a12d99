package stage3_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage3"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/command"
)

// The relay sends the change log in batches (or, on a bus that takes none,
// many events at once without awaiting each ack) and saves only the
// position of what the bus acknowledged: a relay that stopped before saving
// its position sends again from the one saved, and the bus ends up with
// every event once, in commit order.
func TestARelayThatStoppedBeforeSavingItsPositionSendsNoCopy(t *testing.T) {
	buses := map[string]func(t *testing.T) (*nats.Conn, string){"embedded": embeddedBus}
	if nc, _ := bus(t); nc.ConnectedServerVersion() != embeddedVersion(t) {
		buses["machine"] = bus // an older server: one event at a time
	}
	for _, b := range sqltest.Backends() {
		for name, connect := range buses {
			t.Run(b.Name+"/"+name, func(t *testing.T) {
				ctx := context.Background()
				write := sqltest.Open(t, b, migrations.Write)
				nc, ns := connect(t)
				topic := stage3.EventsTopic(ns)
				handlers := command.New(command.NewRepository(write, command.WithChangeLog(changelog.Hook())))
				place := func(n int) {
					for range n {
						if _, err := handlers.PlaceOrder(ctx, order.PlaceOrder{ID: order.NewID(), Customer: "Ada", Address: "1 Loop Rd",
							Lines: []order.Line{{SKU: "A-1", Name: "Widget", Quantity: 1, UnitPriceCents: 100}}}); err != nil {
							t.Fatal(err)
						}
					}
				}
				pub, err := messaging.NewPublisher(nc, messaging.PublisherConfig{})
				if err != nil {
					t.Fatal(err)
				}
				relayUntil := func() {
					t.Helper()
					relay := stage3.NewRelay(write, pub, topic, quiet())
					run, stop := context.WithCancel(ctx)
					done := make(chan error, 1)
					go func() { done <- relay.Run(run) }()
					defer func() {
						stop()
						if err := <-done; err != nil {
							t.Fatal(err)
						}
					}()
					last := lastEntry(t, write)
					for deadline := time.Now().Add(30 * time.Second); ; {
						pos, err := changelog.LoadPosition(ctx, write, "relay:"+topic)
						if err != nil {
							t.Fatal(err)
						}
						if pos == last {
							return
						}
						if time.Now().After(deadline) {
							t.Fatalf("the relay saved %+v, want %+v, the last entry", pos, last)
						}
						time.Sleep(10 * time.Millisecond)
					}
				}

				place(700) // more than one batch
				relayUntil()
				// Stopped before saving: the position is the start again.
				if err := changelog.SavePosition(ctx, write, "relay:"+topic, changelog.Position{}); err != nil {
					t.Fatal(err)
				}
				place(5)
				relayUntil()

				entries, err := changelog.Read(ctx, write, changelog.Position{}, 1000)
				if err != nil {
					t.Fatal(err)
				}
				js, err := jetstream.New(nc)
				if err != nil {
					t.Fatal(err)
				}
				stream, err := js.Stream(ctx, messaging.StreamName(topic))
				if err != nil {
					t.Fatal(err)
				}
				info, err := stream.Info(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if info.State.Msgs != uint64(len(entries)) {
					t.Fatalf("the stream holds %d messages, want %d: each event once", info.State.Msgs, len(entries))
				}
				for i, e := range entries {
					m, err := stream.GetMsg(ctx, info.State.FirstSeq+uint64(i))
					if err != nil {
						t.Fatal(err)
					}
					if got := m.Header.Get(nats.MsgIdHdr); got != e.Event.ID.String() {
						t.Fatalf("message %d is event %s, want %s: the change log's order", i, got, e.Event.ID)
					}
				}
			})
		}
	}
}

// lastEntry is the position of the change log's last entry.
func lastEntry(t *testing.T, write *bun.DB) changelog.Position {
	t.Helper()
	var last changelog.Position
	for {
		es, err := changelog.Read(context.Background(), write, last, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			return last
		}
		last = es[len(es)-1].Position
	}
}

// embeddedBus connects to a new embedded NATS server, the one the app runs
// by default.
func embeddedBus(t *testing.T) (*nats.Conn, string) {
	t.Helper()
	ns, err := messaging.StartEmbedded(context.Background(), messaging.EmbeddedConfig{Dir: t.TempDir()}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := ns.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, ""
}

// embeddedVersion is the embedded server's version.
func embeddedVersion(t *testing.T) string {
	nc, _ := embeddedBus(t)
	return nc.ConnectedServerVersion()
}
