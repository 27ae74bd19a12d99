package changelog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Wait is what holds a reader of the change log back: the oldest running
// transaction that may still add a row before the ones committed after it
// (see Read), with the committed rows it holds back.
type Wait struct {
	// Waiting is whether committed rows are held back.
	Waiting bool
	// Held is how many committed rows wait behind the transaction.
	Held int64
	// PID is the backend that runs the transaction, Database the database
	// it is connected to ("" when the role may not see it), Age how long
	// the transaction has been open, State the backend's state ("idle in
	// transaction", …) and Prepared whether it is a prepared transaction
	// (no backend: PID is 0).
	PID      int
	Database string
	Age      time.Duration
	State    string
	Prepared bool
	// Reason says it for a person: "waiting for transaction pid 4242 in
	// database orders, open 42 s (idle in transaction); 17 events held".
	Reason string
}

// Waiting tells what holds Read back on db. On SQLite nothing does (writers
// commit one at a time, in seq order): it returns the zero Wait.
func Waiting(ctx context.Context, db bun.IDB) (Wait, error) {
	if !isPostgres(db) {
		return Wait{}, nil
	}
	var w Wait
	var pid sql.NullInt64
	var datname, state sql.NullString
	var age sql.NullFloat64
	err := db.NewRaw("WITH "+horizonCTE+`,
held AS (SELECT count(*) AS n FROM change_log, horizon WHERE tx_id >= horizon.xid)
SELECT held.n, a.pid, COALESCE(a.datname, p.database), a.state,
	EXTRACT(EPOCH FROM now() - COALESCE(a.xact_start, p.prepared)), p.transaction IS NOT NULL
FROM horizon CROSS JOIN held
LEFT JOIN pg_stat_activity a ON a.backend_xid = xid(horizon.xid)
LEFT JOIN pg_prepared_xacts p ON p.transaction = xid(horizon.xid)
LIMIT 1`).Scan(ctx, &w.Held, &pid, &datname, &state, &age, &w.Prepared)
	if errors.Is(err, sql.ErrNoRows) {
		return Wait{}, nil
	}
	if err != nil {
		return Wait{}, fmt.Errorf("what holds the change log back: %w", err)
	}
	if w.Held == 0 {
		return Wait{}, nil
	}
	w.Waiting, w.PID, w.Database, w.State = true, int(pid.Int64), datname.String, state.String
	w.Age = time.Duration(age.Float64 * float64(time.Second)).Round(time.Second)
	w.Reason = w.reason()
	return w, nil
}

func (w Wait) reason() string {
	who := fmt.Sprintf("transaction pid %d", w.PID)
	switch {
	case w.Prepared:
		who = "a prepared transaction"
	case w.PID == 0:
		who = "a transaction this role cannot see"
	}
	s := "waiting for " + who
	if w.Database != "" {
		s += " in database " + w.Database
	}
	if w.Age > 0 {
		s += fmt.Sprintf(", open %s", w.Age)
	}
	if w.State != "" {
		s += " (" + w.State + ")"
	}
	return s + fmt.Sprintf("; %d events held", w.Held)
}
