package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/seed"
)

// Reset: every order gone from the database of record (with its change
// log and the commands' records), from stage 3's read database (with its
// error log) and from the bus, as if the app had just been installed. The
// schema stays, and so do the relay's position and the change log's
// sequence: a reset never reuses a sequence number (AUTOINCREMENT on
// SQLite, a sequence on PostgreSQL), so the relay goes on from where it was.

// writeTables and readTables are emptied by a reset, children first.
var (
	writeTables = []string{"order_lines", "orders", "processed_commands", "change_log"}
	readTables  = []string{"order_history", "order_views", "error_log",
		"dashboard_orders", "dashboard_statuses", "dashboard_revenue", "dashboard_customers", "dashboard_customer_revenue"}
)

// ResetDatabases empties the write and read databases of their orders.
func ResetDatabases(ctx context.Context, write, read *bun.DB) error {
	if err := emptyTables(ctx, write, writeTables); err != nil {
		return fmt.Errorf("write database: %w", err)
	}
	if err := emptyTables(ctx, read, readTables); err != nil {
		return fmt.Errorf("read database: %w", err)
	}
	return nil
}

func emptyTables(ctx context.Context, db *bun.DB, tables []string) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for _, t := range tables {
			if _, err := tx.NewDelete().TableExpr(t).Where("1 = 1").Exec(ctx); err != nil {
				return fmt.Errorf("empty %s: %w", t, err)
			}
		}
		return nil
	})
}

// PurgeBus drops every message on the app's streams (events and
// commands, under namespace); the streams and their consumers stay.
func PurgeBus(ctx context.Context, nc *nats.Conn, namespace string) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	for _, topic := range []string{messaging.EventsTopic, messaging.CommandsTopic} {
		st, err := js.Stream(ctx, messaging.StreamName(namespace+topic))
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("bus: stream of %s: %w", topic, err)
		}
		if err := st.Purge(ctx); err != nil {
			return fmt.Errorf("bus: purge %s: %w", topic, err)
		}
	}
	return nil
}

// RemoveEmbeddedBus removes the embedded NATS's store from the data dir,
// with every stream in it; the next serve provisions them anew. The bus
// must not run.
func RemoveEmbeddedBus(dataDir string) error {
	return os.RemoveAll(filepath.Join(dataDir, "nats"))
}

// busIdle waits until the bus has handed every message of the app's
// consumers out and had it acked, at most for wait.
func busIdle(ctx context.Context, nc *nats.Conn, namespace string, wait time.Duration) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	consumers := [][2]string{
		{namespace + messaging.EventsTopic, namespace + messaging.ProjectorGroup},
		{namespace + messaging.CommandsTopic, namespace + messaging.CommandHandlerGroup},
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		idle := true
		for _, c := range consumers {
			con, err := js.Consumer(ctx, messaging.StreamName(c[0]), messaging.ConsumerName(c[1]))
			if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			info := con.CachedInfo()
			idle = idle && info.NumPending == 0 && info.NumAckPending == 0
		}
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the bus still hands out messages: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// readOrdersLeft counts the orders on the read side: in the order
// projection's table and in the dashboard projection's.
func readOrdersLeft(ctx context.Context, read *bun.DB) (int64, error) {
	var left int64
	for _, table := range []string{"order_views", "dashboard_orders"} {
		n, err := read.NewSelect().TableExpr(table).Count(ctx)
		if err != nil {
			return 0, err
		}
		left += n
	}
	return left, nil
}

// Reset empties the running app's data: the database of record, the bus
// and the read database, in that order, so that nothing already on its
// way lands after the reset; then it seeds seedOrders new orders (0:
// none), which reach the read side through the change log like any
// other. The caller holds new writes back meanwhile (the BFF's fence).
func (a *App) Reset(ctx context.Context, seedOrders int) error {
	if err := emptyTables(ctx, a.WriteDB, writeTables); err != nil {
		return fmt.Errorf("reset the write database: %w", err)
	}
	// The relay may still publish the last entries it read, and the
	// projector apply what it holds: each would bring an order back to
	// the read side. With no order left in the database of record, any
	// order on the read side is such a straggler: purge the bus, let the
	// consumers finish, empty the read side, and again until it stays
	// empty for a moment.
	ns := a.cfg.BusNamespace
	for round := 0; ; round++ {
		if err := PurgeBus(ctx, a.NATS, ns); err != nil {
			return err
		}
		if err := busIdle(ctx, a.NATS, ns, 10*time.Second); err != nil {
			a.cfg.Logger.WarnContext(ctx, "reset: the bus did not go idle", "err", err)
		}
		// Both projections: each consumer has its own stragglers.
		left, err := readOrdersLeft(ctx, a.ReadDB)
		if err != nil {
			return fmt.Errorf("reset the read database: %w", err)
		}
		if round > 0 && left == 0 {
			break
		}
		if round >= 20 {
			return fmt.Errorf("reset: orders keep coming back to the read side (%d); reset again", left)
		}
		if err := emptyTables(ctx, a.ReadDB, readTables); err != nil {
			return fmt.Errorf("reset the read database: %w", err)
		}
		// A straggler in flight lands well within this.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	a.cfg.Logger.InfoContext(ctx, "data reset")
	if seedOrders > 0 {
		_, events, err := seed.Orders(ctx, a.WriteDB, seedOrders, 0, nil)
		if err != nil {
			return fmt.Errorf("seed after the reset: %w", err)
		}
		a.cfg.Logger.InfoContext(ctx, "seeded after the reset", "orders", seedOrders, "events", events)
	}
	return nil
}
