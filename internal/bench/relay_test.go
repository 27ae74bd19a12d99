package bench

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage3"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/command"
)

// BenchmarkRelay measures whether stage 3's relay keeps up with the write
// side. Each iteration first places STAIRCASE_BENCH_RELAY_EVENTS orders
// (default 10,000) through stage 3's command handlers with writeClients
// clients at once, as fast as the write database takes them — the write
// side's maximum rate, write-events/s — and then relays the change log they
// left to a JetStream stream on an embedded NATS server in a temp folder,
// as the app runs it, from the first event until the stream holds the last:
// relay-events/s. relay/write is their ratio: below 1 the read side falls
// behind a write side at full speed.
//
// It runs with the events stream as the app provisions it
// (events-sync=always: every message fsynced before it is acknowledged) and
// with JetStream's asynchronous persistence (events-sync=async), for the
// trade-off the stage's README weighs. Run it with -benchtime 1x.
func BenchmarkRelay(b *testing.B) {
	events := envInt(b, "STAIRCASE_BENCH_RELAY_EVENTS", 10_000)
	for _, be := range sqltest.Backends() {
		for _, async := range []bool{false, true} {
			sync := "always"
			if async {
				sync = "async"
			}
			b.Run("db="+be.Name+"/events-sync="+sync, func(b *testing.B) {
				var writing, relaying time.Duration
				for b.Loop() {
					w, r := relayOnce(b, be, events, async)
					writing += w
					relaying += r
				}
				n := float64(events * b.N)
				b.ReportMetric(n/writing.Seconds(), "write-events/s")
				b.ReportMetric(n/relaying.Seconds(), "relay-events/s")
				b.ReportMetric(writing.Seconds()/relaying.Seconds(), "relay/write")
			})
		}
	}
}

// writeClients is how many clients place orders at once while the write
// side's rate is measured.
const writeClients = 8

// relayOnce places n orders in a new write database and relays their
// events to a new embedded NATS server, and returns how long each took.
func relayOnce(b *testing.B, be sqltest.Backend, n int, async bool) (writing, relaying time.Duration) {
	ctx := context.Background()
	write := sqltest.Open(b, be, migrations.Write)
	handlers := command.New(command.NewRepository(write, command.WithChangeLog(changelog.Hook())))

	var next atomic.Int64
	var wg sync.WaitGroup
	var failed sync.Once
	start := time.Now()
	for range writeClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				cmd := order.PlaceOrder{ID: order.NewID(), Customer: "Relayed customer", Address: "3 Relay Row",
					Lines: []order.Line{{SKU: "RELAY-1", Name: "Widget", Quantity: 1, UnitPriceCents: 1999}}}
				if _, err := handlers.PlaceOrder(ctx, cmd); err != nil {
					failed.Do(func() { b.Errorf("place order: %v", err) })
					return
				}
			}
		}()
	}
	wg.Wait()
	writing = time.Since(start)
	if b.Failed() {
		b.FailNow()
	}

	ns, err := messaging.StartEmbedded(ctx, messaging.EmbeddedConfig{Dir: b.TempDir()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer ns.Shutdown()
	nc, err := ns.Connect()
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	topic := messaging.EventsTopic
	streamCfg := messaging.StreamConfigFor(topic)
	streamCfg.AsyncPersist = async
	pub, err := messaging.NewPublisher(nc, messaging.PublisherConfig{StreamFor: func(string) messaging.StreamConfig { return streamCfg }})
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	stream, err := messaging.EnsureStream(ctx, js, streamCfg)
	if err != nil {
		b.Fatal(err)
	}

	relay := stage3.NewRelay(write, pub, topic, slog.New(slog.NewTextHandler(io.Discard, nil)))
	run, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	start = time.Now()
	go func() { done <- relay.Run(run) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			b.Errorf("relay: %v", err)
		}
	}()
	for {
		info, err := stream.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if info.State.Msgs >= uint64(n) {
			return writing, time.Since(start)
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("the stream holds %d of %d events after 5 minutes", info.State.Msgs, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
