package command

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
)

// ChangeLog receives the events of every change the repository saves,
// inside the transaction that saves it, so that recording them commits or
// rolls back with the change (stage 3 appends them to its change log: no
// dual write). An error rolls the change back.
type ChangeLog func(ctx context.Context, tx bun.Tx, events []order.Event) error

// Repository keeps orders for the write model in the orders tables (the
// rows and helpers of rows.go). It never locks a row while a
// change is decided: a save succeeds only if the row is still at the
// version the change was loaded at.
type Repository struct {
	db        *bun.DB
	log       ChangeLog
	committed func()
	joined    func(ctx context.Context) (bun.Tx, bool)
}

// RepositoryOption configures a Repository.
type RepositoryOption func(*Repository)

// WithChangeLog has the repository hand every change's events to log inside
// the change's transaction.
func WithChangeLog(log ChangeLog) RepositoryOption {
	return func(r *Repository) { r.log = log }
}

// AfterCommit has the repository call f after every transaction that saved
// a change has committed (stage 3 wakes its relay with it).
func AfterCommit(f func()) RepositoryOption {
	return func(r *Repository) { r.committed = f }
}

// JoinTx has the repository save a change inside the transaction that tx
// finds in the change's context, if any, as a savepoint of it, instead of
// in a transaction of its own: stage 3's command bus applies a group of
// commands in one write transaction, and a change that fails rolls back to
// its savepoint without spoiling the others. The owner of that transaction
// commits it and says so: AfterCommit is not called for such a change.
func JoinTx(tx func(ctx context.Context) (bun.Tx, bool)) RepositoryOption {
	return func(r *Repository) { r.joined = tx }
}

// NewRepository returns the repository on the write database.
func NewRepository(db *bun.DB, opts ...RepositoryOption) *Repository {
	r := &Repository{db: db}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Add saves a newly placed order and the events that placed it, and returns
// the order now stored under its ID. If that ID is taken by an order placed
// with the same fingerprint (order.Fingerprint), Add saves nothing and
// returns that order as it is now; under another fingerprint it returns an
// ECONFLICT error.
func (r *Repository) Add(ctx context.Context, o *order.Order, fingerprint string, events []order.Event) (*order.Order, error) {
	stored := o
	db, own := r.dbFor(ctx)
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		row := Row(o, fingerprint)
		// ON CONFLICT DO NOTHING rather than look-then-insert: two identical
		// place-orders racing on PostgreSQL both succeed instead of one
		// failing on the primary key.
		res, err := tx.NewInsert().Model(row).On("CONFLICT (id) DO NOTHING").Exec(ctx)
		if err != nil {
			return fmt.Errorf("insert order %s: %w", o.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			existing, fp, err := Load(ctx, tx, o.ID, false)
			if err != nil {
				return err
			}
			if fp != fingerprint {
				e := order.Errorf(order.ECONFLICT, "order %s exists and was placed with other content", o.ID)
				e.Current = existing
				return e
			}
			stored = existing
			return nil
		}
		if _, err := tx.NewInsert().Model(&row.Lines).Exec(ctx); err != nil {
			return fmt.Errorf("insert lines of %s: %w", o.ID, err)
		}
		return r.record(ctx, tx, events)
	})
	if err != nil {
		return nil, err
	}
	if own {
		r.done()
	}
	return stored, nil
}

// Update loads an order, lets change apply a command to it, and saves what
// change did in one transaction with the events change returns. A change
// that returns no events saves nothing; one whose last event is
// OrderDeleted removes the order. change runs with no lock held: if another
// writer saved the order after it was loaded, Update saves nothing and
// returns order.VersionConflict with the order as it is now (Error.Current).
// An unknown order is ENOTFOUND; change's own errors are returned as they
// are.
func (r *Repository) Update(ctx context.Context, id order.ID, change func(ctx context.Context, o *order.Order) ([]order.Event, error)) error {
	db, own := r.dbFor(ctx)
	o, _, err := Load(ctx, db, id, false)
	if err != nil {
		return err
	}
	from, before := o.Version, append([]order.Line(nil), o.Lines...)
	events, err := change(ctx, o)
	if err != nil || len(events) == 0 {
		return err
	}
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		// Both write WHERE version = from: the database, not a lock, decides
		// which of two writers that loaded the same version wins.
		if _, deleted := events[len(events)-1].Payload.(order.OrderDeleted); deleted {
			err = Remove(ctx, tx, id, from)
		} else {
			err = Save(ctx, tx, o, from, !order.SameLines(before, o.Lines))
		}
		if err != nil {
			return err
		}
		return r.record(ctx, tx, events)
	})
	if err == nil && own {
		r.done()
	}
	return err
}

// dbFor is where a change is saved: the transaction the context carries
// (JoinTx), or the write database; own tells which.
func (r *Repository) dbFor(ctx context.Context) (db bun.IDB, own bool) {
	if r.joined != nil {
		if tx, ok := r.joined(ctx); ok {
			return tx, false
		}
	}
	return r.db, true
}

func (r *Repository) done() {
	if r.committed != nil {
		r.committed()
	}
}

func (r *Repository) record(ctx context.Context, tx bun.Tx, events []order.Event) error {
	if r.log == nil || len(events) == 0 {
		return nil
	}
	return r.log(ctx, tx, events)
}
