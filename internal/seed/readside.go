package seed

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/command"
	"github.com/staircase/staircase/stages/stage3/projection"
	"github.com/staircase/staircase/stages/stage3/rebuild"
)

// Seeded says what OrdersAndReadSide did.
type Seeded struct {
	// Seed is the random seed used, Events how many events were written.
	Seed   uint64
	Events int
	// Built tells whether the read side was built from the database of
	// record and the relay moved to the change log's head (Head); if not,
	// Why says why, and the seeded events reach the read side through the
	// relay and the projectors when stage 3 runs.
	Built   bool
	Why     string
	Head    changelog.Position
	Rebuild rebuild.Progress
}

// OrdersAndReadSide adds n made-up orders as Orders does and then, when it
// is consistent, leaves stage 3's read side as its projectors would have
// made it: it rebuilds the read database (the orders' rows and the
// dashboard) from the database of record and saves the change log's head
// as the position of the relay named relay, so that the seeded events are
// not published again. A million events through the bus one at a time
// take far longer than a rebuild.
//
// It is consistent when nothing but this rebuild feeds the read side
// meanwhile and nothing the projectors have yet to apply is lost by moving
// the relay on: the database of record was empty before the seed, or the
// read database is (everything the relay had yet to publish is then in the
// rebuild); and no relay runs on the database of record — on PostgreSQL
// the relay's leader lock is held throughout (a running app holds it), on
// SQLite the caller holds the data dir. Otherwise the read side is left to
// the relay, as an app running stage 3 would see new orders, and Why says
// so. Events on the bus from before (an external NATS not purged) are
// harmless: the projectors apply an event to an order once, by version.
func OrdersAndReadSide(ctx context.Context, write, read *bun.DB, relay string, n int, seed uint64,
	progress func(done, events int), rebuilt func(rebuild.Progress)) (Seeded, error) {
	var out Seeded
	release, held, err := holdRelay(ctx, write, relay)
	if err != nil {
		return out, err
	}
	defer release()
	writeEmpty, readEmpty := false, false
	if held {
		if writeEmpty, err = writeIsEmpty(ctx, write); err != nil {
			return out, err
		}
		if readEmpty, err = readIsEmpty(ctx, read); err != nil {
			return out, err
		}
	}
	out.Seed, out.Events, err = Orders(ctx, write, n, seed, progress)
	if err != nil {
		return out, err
	}
	switch {
	case !held:
		out.Why = "a relay runs on the database of record (an app serves it), so stage 3's projectors take the seeded events from the bus"
		return out, nil
	case !writeEmpty && !readEmpty:
		out.Why = "the read database already had orders and the database of record had some before the seed, so stage 3's projectors take the seeded events from the bus (`staircase rebuild` builds the read side at once instead)"
		return out, nil
	}
	// The head before the rebuild: the rebuild reads every entry up to it
	// (and the ones after, which the relay will publish again, harmlessly).
	head, err := changelog.HeadPosition(ctx, write)
	if err != nil {
		return out, err
	}
	if err := rebuild.Rebuild(ctx, write, read, nil, func(p rebuild.Progress) {
		out.Rebuild = p
		if rebuilt != nil {
			rebuilt(p)
		}
	}); err != nil {
		return out, fmt.Errorf("build the read side: %w", err)
	}
	saved, err := changelog.LoadPosition(ctx, write, relay)
	if err != nil {
		return out, err
	}
	if head.After(saved) {
		if err := changelog.SavePosition(ctx, write, relay, head); err != nil {
			return out, err
		}
	}
	out.Built, out.Head = true, head
	return out, nil
}

// holdRelay takes the relay's leader lock on PostgreSQL (the relay takes
// it before it reads the change log, see stage 3's relay.go): held is
// false when another session holds it. SQLite has no lock to take: the
// caller holds the data dir, which a serving app holds too.
func holdRelay(ctx context.Context, write *bun.DB, relay string) (release func(), held bool, err error) {
	if sqlstore.DialectName(write) != sqlstore.Postgres {
		return func() {}, true, nil
	}
	conn, err := write.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("take the relay's lock: %w", err)
	}
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock(hashtext(?))", relay).Scan(&held); err != nil {
		conn.Close()
		return nil, false, fmt.Errorf("take the relay's lock: %w", err)
	}
	if !held {
		conn.Close()
		return func() {}, false, nil
	}
	return func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext(?))", relay)
		conn.Close()
	}, true, nil
}

// writeIsEmpty tells whether the database of record has no order and no
// event.
func writeIsEmpty(ctx context.Context, write *bun.DB) (bool, error) {
	orders, err := write.NewSelect().Model((*command.Order)(nil)).Exists(ctx)
	if err != nil {
		return false, fmt.Errorf("look at the orders: %w", err)
	}
	events, err := write.NewSelect().TableExpr("change_log").Exists(ctx)
	if err != nil {
		return false, fmt.Errorf("look at the change log: %w", err)
	}
	return !orders && !events, nil
}

// readIsEmpty tells whether stage 3's read database has no order.
func readIsEmpty(ctx context.Context, read *bun.DB) (bool, error) {
	some, err := read.NewSelect().TableExpr("?", bun.Ident(projection.Live.Orders)).Exists(ctx)
	if err != nil {
		return false, fmt.Errorf("look at the read database: %w", err)
	}
	return !some, nil
}
