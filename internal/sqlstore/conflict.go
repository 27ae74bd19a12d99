package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"
)

// Conflicted reports whether err is PostgreSQL ending a transaction so that
// another one can go on: a deadlock (40P01) or a serialization failure
// (40001). Two transactions that update several rows each, in different
// orders, can wait on each other — a projector's batch and a sync of the
// same orders, say. PostgreSQL rolls one of them back; it did nothing, and
// running it again is safe.
func Conflicted(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "40P01" || pg.Code == "40001")
}

// RunInTxAgain runs fn in a transaction of db like db.RunInTx, and runs it
// again, a little later each time, while PostgreSQL ends it for a conflict
// (Conflicted), up to tries times in all.
func RunInTxAgain(ctx context.Context, db *bun.DB, tries int, fn func(ctx context.Context, tx bun.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := db.RunInTx(ctx, nil, fn)
		if err == nil || !Conflicted(err) || attempt >= tries {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(time.Duration(attempt) * 20 * time.Millisecond):
		}
	}
}
