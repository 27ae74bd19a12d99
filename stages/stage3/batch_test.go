package stage3

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/messaging/natstest"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/errorlog"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// The projector's batches: the events of an open batch are applied and
// not acknowledged to the bus, so a process killed before the commit, or
// a commit that fails, has them delivered again, and none is lost; the
// changes are told only once committed.
func TestABatchIsAcknowledgedOnlyOnceCommitted(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			read := sqltest.Open(t, b, migrations.Read)
			nc, ns := natstest.Connect(t)
			bt := &batchTest{t: t, read: read, nc: nc, topic: EventsTopic(ns), group: ns + "batch-test"}
			const n = 12

			// A batch that commits only when told holds every event it got,
			// none acknowledged and none visible outside its transaction.
			first := bt.start(func(b *batch) { b.size, b.idle, b.maxAge = 1000, time.Hour, time.Hour })
			placed := bt.publish(n)
			bt.waitFor("the projector has every event in its batch", func() bool { return first.events() >= n })
			if pending, floor := bt.consumer(); pending != n || floor != 0 {
				t.Fatalf("with the batch open the bus has %d messages unacknowledged and its ack floor at %d, want %d and 0", pending, floor, n)
			}
			if got := bt.projected(placed); got != 0 {
				t.Fatalf("%d orders of the open batch are on the read side before it committed", got)
			}
			if got := first.told.Load(); got != 0 {
				t.Fatalf("%d changes told before the commit", got)
			}

			// Killed: the transaction is gone with the process, no ack was
			// sent. The next projector gets every event again, after the
			// bus's ack wait.
			first.kill()
			second := bt.start(nil)
			bt.waitFor("every order on the read side after the restart", func() bool { return bt.projected(placed) == n })
			bt.waitFor("every message acknowledged", func() bool {
				pending, floor := bt.consumer()
				return pending == 0 && floor == n
			})
			second.stop()

			// A commit that fails nacks the batch's messages: they come
			// again at once and the next batch commits them.
			var fail atomic.Bool
			fail.Store(true)
			third := bt.start(func(b *batch) {
				b.size, b.idle, b.maxAge = n, time.Hour, time.Hour
				b.last = append(b.last, func(context.Context, bun.Tx) error {
					if fail.Swap(false) {
						return errors.New("the disk is full")
					}
					return nil
				})
			})
			more := bt.publish(n)
			bt.waitFor("every order of the failed batch on the read side", func() bool { return bt.projected(more) == n })
			if fail.Load() {
				t.Fatal("the commit never failed")
			}
			bt.waitFor("every message acknowledged", func() bool {
				pending, floor := bt.consumer()
				return pending == 0 && floor == 2*n
			})
			if got := third.told.Load(); got != n {
				t.Fatalf("%d changes told for %d events applied, one failed commit", got, n)
			}
			third.stop()
		})
	}
}

// batchTest runs projectors on one read database and one bus consumer.
type batchTest struct {
	t            *testing.T
	read         *bun.DB
	nc           *nats.Conn
	topic, group string
}

// runningProjector is a projector with its router and subscriber.
type runningProjector struct {
	p      *Projector
	sub    *messaging.Subscriber
	router *message.Router
	told   atomic.Int64
}

// start runs a projector whose batch is changed by set (if not nil).
// The error log is asked whether it holds any parked event once per
// batch, in the batch's transaction, rather than once per event; and an
// event of an order with a parked event is still held behind it.
func TestTheErrorLogIsAskedOncePerBatch(t *testing.T) {
	for _, be := range sqltest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			read := sqltest.Open(t, be, migrations.Read)
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			b := newBatch(read, log)
			b.idle, b.maxAge = time.Hour, time.Hour
			asked := 0
			noneHeld := func(ctx context.Context, db bun.IDB) (bool, error) {
				asked++
				return projection.NoneHeld(ctx, db)
			}
			for range 3 {
				clear, err := b.ask(ctx, noneHeld)
				if err != nil {
					t.Fatal(err)
				}
				if !clear {
					t.Fatal("an empty error log is said to hold events")
				}
			}
			if asked != 1 {
				t.Fatalf("asked %d times in one batch, want once", asked)
			}
			if err := b.flush(); err != nil {
				t.Fatal(err)
			}
			if _, err := b.ask(ctx, noneHeld); err != nil {
				t.Fatal(err)
			}
			if asked != 2 {
				t.Fatalf("asked %d times in two batches, want twice", asked)
			}
			if err := b.flush(); err != nil {
				t.Fatal(err)
			}

			// An order's first event is parked: its second is held behind
			// it, not applied.
			_, placed, err := order.Place(order.PlaceOrder{ID: order.NewID(), Customer: "Ada", Address: "1 Loop Rd",
				Lines: []order.Line{{SKU: "A-1", Name: "Widget", Quantity: 1, UnitPriceCents: 100}}}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			envelope, err := changelog.Marshal(placed)
			if err != nil {
				t.Fatal(err)
			}
			if err := projection.Park(ctx, read, placed, envelope, errors.New("refused"), 3); err != nil {
				t.Fatal(err)
			}
			shipped := placed
			shipped.ID, shipped.OrderVersion, shipped.Type, shipped.Payload = uuid.New(), 2, "OrderShipped", order.OrderShipped{}
			payload, err := changelog.Marshal(shipped)
			if err != nil {
				t.Fatal(err)
			}
			applied := 0
			holding := errorlog.Projector{Read: read, Log: log, Commit: b.flush, Clear: b.ask}.Holding(func(*message.Message) error {
				applied++
				return nil
			})
			if err := holding(message.NewMessage(watermill.NewUUID(), payload)); err != nil {
				t.Fatal(err)
			}
			if applied != 0 {
				t.Fatal("an event behind a parked one of its order was applied")
			}
			entries, err := projection.ErrorLog(ctx, read)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 2 {
				t.Fatalf("the error log has %d entries, want the parked event and the one held behind it", len(entries))
			}
		})
	}
}

func (bt *batchTest) start(set func(*batch)) *runningProjector {
	t := bt.t
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sub, err := messaging.NewSubscriber(bt.nc, messaging.SubscriberConfig{ConsumerGroup: bt.group,
		Consumer: messaging.ConsumerConfig{AckWait: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	rp := &runningProjector{sub: sub}
	p := &Projector{read: bt.read, log: log, metrics: newStageMetrics(nil), applied: func(order.Event) { rp.told.Add(1) }}
	p.batch = newBatch(bt.read, log)
	p.batches = []*batch{p.batch}
	p.rows = projection.NewBatch(projection.Live)
	p.batch.beforeCommit(func(ctx context.Context, tx bun.Tx) error { return p.rows.Write(ctx, tx) }, p.rows.Discard)
	if set != nil {
		set(p.batch)
	}
	rp.p = p
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	r.AddConsumerHandler("projector", bt.topic, sub, p.between(p.handle))
	rp.router = r
	go func() { _ = r.Run(context.Background()) }()
	select {
	case <-r.Running():
	case <-time.After(30 * time.Second):
		t.Fatal("the router did not start")
	}
	t.Cleanup(rp.stop)
	return rp
}

// events is how many events the open batch holds.
func (rp *runningProjector) events() int {
	rp.p.batch.mu.Lock()
	defer rp.p.batch.mu.Unlock()
	return rp.p.batch.events
}

// stop stops the projector as Stage.Close does.
func (rp *runningProjector) stop() {
	_ = rp.router.Close()
	rp.p.flush()
	_ = rp.sub.Close()
}

// kill stops the projector as a SIGKILL would: its subscription ends and
// its open transaction is rolled back, and no message of the batch is
// answered.
func (rp *runningProjector) kill() {
	b := rp.p.batch
	b.mu.Lock()
	if b.open {
		_ = b.tx.Rollback()
		b.settle = nil
		b.reset()
	}
	b.mu.Unlock()
	_ = rp.router.Close()
	_ = rp.sub.Close()
}

// publish sends OrderPlaced of n new orders to the events topic.
func (bt *batchTest) publish(n int) []order.ID {
	t := bt.t
	t.Helper()
	pub, err := messaging.NewPublisher(bt.nc, messaging.PublisherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	ids := make([]order.ID, n)
	for i := range n {
		_, e, err := order.Place(order.PlaceOrder{ID: order.NewID(), Customer: "Ada", Address: "1 Loop Rd",
			Lines: []order.Line{{SKU: "A-1", Name: "Widget", Quantity: 1, UnitPriceCents: 100}}}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		m, err := EventMessage(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.Publish(bt.topic, m); err != nil {
			t.Fatal(err)
		}
		ids[i] = e.OrderID
	}
	return ids
}

// projected is how many of ids the read side has, read from a connection
// of its own.
func (bt *batchTest) projected(ids []order.ID) int {
	bt.t.Helper()
	n, err := bt.read.NewSelect().TableExpr("?", bun.Ident(projection.Live.Orders)).Where("id IN (?)", bun.In(ids)).
		Where("version = 1").Count(context.Background())
	if err != nil {
		bt.t.Fatal(err)
	}
	return int(n)
}

// consumer is the bus's count of messages delivered and not acknowledged,
// and its ack floor (the stream sequence up to which all are).
func (bt *batchTest) consumer() (pending int, floor uint64) {
	bt.t.Helper()
	js, err := jetstream.New(bt.nc)
	if err != nil {
		bt.t.Fatal(err)
	}
	ctx := context.Background()
	c, err := js.Consumer(ctx, messaging.StreamConfigFor(bt.topic).Name, messaging.ConsumerName(bt.group))
	if err != nil {
		bt.t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		bt.t.Fatal(err)
	}
	return info.NumAckPending, info.AckFloor.Stream
}

func (bt *batchTest) waitFor(what string, ok func() bool) {
	bt.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			bt.t.Fatalf("not so within 30 s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
