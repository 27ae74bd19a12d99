package changelog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
)

// row is a change_log row.
type row struct {
	bun.BaseModel `bun:"table:change_log"`

	Seq           int64     `bun:"seq,pk,autoincrement"`
	TxID          int64     `bun:"tx_id,scanonly"` // the database fills it in (PostgreSQL only)
	EventID       uuid.UUID `bun:"event_id,notnull"`
	OrderID       uuid.UUID `bun:"order_id,notnull"`
	OrderVersion  int       `bun:"order_version,notnull"`
	Type          string    `bun:"type,notnull"`
	SchemaVersion int       `bun:"schema_version,notnull"`
	Payload       string    `bun:"payload,notnull"` // JSON
	OccurredAt    time.Time `bun:"occurred_at,notnull"`
	// Metadata is what the relay puts on the event's message besides the
	// event (a JSON object of strings; metadata.go), NULL for nothing.
	Metadata sql.NullString `bun:"metadata"`
}

func (r *row) event() (order.Event, error) {
	e, err := decode(r.EventID, r.OrderID, r.OrderVersion, r.Type, r.SchemaVersion, r.OccurredAt, []byte(r.Payload))
	if err != nil {
		return order.Event{}, fmt.Errorf("change log seq %d: %w", r.Seq, err)
	}
	return e, nil
}

// entry is the row as an Entry: the event, or for a row this code cannot
// read, what its columns say and why it cannot be read.
func (r *row) entry() Entry {
	en := Entry{Position: Position{TxID: r.TxID, Seq: r.Seq}, Metadata: decodeMetadata(r.Metadata)}
	e, err := r.event()
	if err == nil {
		en.Event = e
		return en
	}
	en.Err = err
	en.Event = order.Event{ID: r.EventID, OrderID: r.OrderID, OrderVersion: r.OrderVersion, Type: r.Type,
		SchemaVersion: r.SchemaVersion, OccurredAt: r.OccurredAt.UTC()}
	payload := json.RawMessage(r.Payload)
	if !json.Valid(payload) {
		// Kept as a JSON string, so that the envelope stays JSON.
		payload, _ = json.Marshal(r.Payload)
	}
	en.Envelope, _ = json.Marshal(envelope{
		EventID: r.EventID, OrderID: r.OrderID, OrderVersion: r.OrderVersion, Type: r.Type,
		SchemaVersion: r.SchemaVersion, OccurredAt: r.OccurredAt.UTC(), Payload: payload,
	})
	return en
}

// Append records events in the change log, in their order, with one
// insert. Call it inside the transaction that saves the change the events
// describe, so that they commit or roll back together. A second event for
// the same order and version fails (and with it the writer's transaction),
// as does an event ID recorded before.
func Append(ctx context.Context, db bun.IDB, events []order.Event) error {
	if len(events) == 0 {
		return nil
	}
	rows := make([]row, len(events))
	md, err := encodeMetadata(ctx)
	if err != nil {
		return err
	}
	for i, e := range events {
		payload, err := encodePayload(e)
		if err != nil {
			return err
		}
		rows[i] = row{
			EventID: e.ID, OrderID: e.OrderID, OrderVersion: e.OrderVersion,
			Type: e.Payload.EventType(), SchemaVersion: e.Payload.SchemaVersion(),
			Payload: string(payload), OccurredAt: e.OccurredAt.UTC(), Metadata: md,
		}
	}
	// The rows' seqs are not needed back.
	if _, err := db.NewInsert().Model(&rows).Returning("NULL").Exec(ctx); err != nil {
		return fmt.Errorf("append %d events of order %s to the change log: %w", len(events), events[0].OrderID, err)
	}
	return nil
}

// Hook returns Append in the shape of the stage 2 repository's ChangeLog
// option (command.WithChangeLog(changelog.Hook())): the repository calls it
// with the transaction of every save.
func Hook() func(ctx context.Context, tx bun.Tx, events []order.Event) error {
	return func(ctx context.Context, tx bun.Tx, events []order.Event) error {
		return Append(ctx, tx, events)
	}
}

// Position is a place in the change log in commit order: the entry at
// (TxID, Seq), after which a reader goes on. TxID is the PostgreSQL
// transaction that wrote the entry, 0 on SQLite. The zero Position is the
// start.
type Position struct {
	TxID int64
	Seq  int64
}

// Entry is an event read from the change log with its position.
//
// A row this code cannot read as an event — a schema version it does not
// know, which a newer instance writes during a rolling upgrade, or a broken
// payload — is an entry too, not an error that would stop every reader at
// it: Err says why it cannot be read, Event holds only what the row's
// columns say (no Payload), and Envelope is the row as the bus carries
// events (Marshal's shape, the payload as stored), which a version of the
// code that knows the schema can Unmarshal.
type Entry struct {
	Position
	Event order.Event
	// Err and Envelope are set only for a row that cannot be read.
	Err      error
	Envelope []byte
	// Metadata is what was recorded to go with the event on the bus
	// (WithMetadata); nil for nothing.
	Metadata map[string]string
}

// DefaultReadLimit is how many entries Read returns when its limit is not
// positive.
const DefaultReadLimit = 100

func isPostgres(db bun.IDB) bool { return sqlstore.DialectName(db) == sqlstore.Postgres }

// columns lists the columns of a row for a SELECT; the payload comes back
// as text (PostgreSQL stores it as JSONB) and tx_id as a number.
func columns(db bun.IDB) string {
	txID := "0"
	payload, metadata := "payload", "metadata"
	if isPostgres(db) {
		// xid8 has no cast to bigint, but every type converts to text.
		txID = "CAST(CAST(tx_id AS TEXT) AS BIGINT)"
		payload, metadata = "CAST(payload AS TEXT)", "CAST(metadata AS TEXT)"
	}
	return "seq, " + txID + " AS tx_id, event_id, order_id, order_version, type, schema_version, " +
		payload + " AS payload, occurred_at, " + metadata + " AS metadata"
}

// Read returns up to limit entries after the position after, in commit
// order, without ever skipping one: an entry that a still running
// transaction might precede is not returned until that transaction ends.
// A row that cannot be read is returned with its Err set (see Entry), for
// the reader to set aside, rather than failing the read.
//
// On PostgreSQL a sequence number is taken when a row is inserted, not when
// it commits, so seq order is not commit order: seq 8 can commit while seq
// 7's transaction is still running, and a reader that moved past 8 would
// never see 7. Read therefore does what watermill-sql's PostgreSQL adapter
// does: it returns only rows whose transaction id is below the xmin of the
// current snapshot — every transaction with a lower id has ended, and any
// transaction still to commit has a higher id — ordered by (tx_id, seq),
// after the (tx_id, seq) of after. Transaction ids are the server's, shared
// by all its databases, so one long transaction anywhere on the server would
// hold every reader back: Read therefore leaves out of that xmin the running
// transactions it knows belong to another database (pg_stat_activity,
// pg_prepared_xacts), which cannot write to this change log (see horizonCTE).
//
// On SQLite write transactions run one at a time (the database is opened
// with immediate transactions), so a seq is taken and committed before the
// next writer starts: seq order is commit order and Read returns the rows
// with seq above after.Seq.
func Read(ctx context.Context, db bun.IDB, after Position, limit int) ([]Entry, error) {
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	var rows []row
	var q *bun.RawQuery
	if isPostgres(db) {
		q = db.NewRaw("WITH "+horizonCTE+" SELECT "+columns(db)+" FROM change_log, horizon"+
			" WHERE (tx_id, seq) > (CAST(? AS xid8), ?)"+
			" AND tx_id < horizon.xid"+
			" ORDER BY tx_id, seq LIMIT ?",
			strconv.FormatInt(after.TxID, 10), after.Seq, limit)
	} else {
		q = db.NewRaw("SELECT "+columns(db)+" FROM change_log WHERE seq > ? ORDER BY seq LIMIT ?", after.Seq, limit)
	}
	if err := q.Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("read the change log after %+v: %w", after, err)
	}
	entries := make([]Entry, len(rows))
	for i := range rows {
		entries[i] = rows[i].entry()
	}
	return entries, nil
}

// horizonCTE computes horizon.xid, the transaction id below which every
// change-log row of a committed transaction is visible and no transaction
// still running can add one: the lowest id among the current snapshot's
// running transactions (its xip list) or, if none, its xmax — leaving out
// the transactions identified as another database's. A backend is bound to
// one database for life, so such a transaction cannot write to this
// change_log; a running transaction not identified (its backend's row not
// visible to this role, or read before it took its id) counts, so the
// bound errs only towards waiting. Transactions that start later take ids
// at or above xmax. Ids in xip are within 2^31 of the current one, so
// comparing them as 32-bit xids is exact.
const horizonCTE = `snap AS (SELECT pg_current_snapshot() AS s),
others AS (
	SELECT backend_xid AS xid FROM pg_stat_activity
	WHERE backend_xid IS NOT NULL AND datname IS DISTINCT FROM current_database()
	UNION ALL
	SELECT transaction FROM pg_prepared_xacts WHERE database <> current_database()
),
horizon AS (
	SELECT COALESCE(
		(SELECT min(x) FROM pg_snapshot_xip(snap.s) AS x WHERE NOT EXISTS (SELECT 1 FROM others WHERE others.xid = xid(x))),
		pg_snapshot_xmax(snap.s)) AS xid
	FROM snap
)`

// LoadPosition returns the position a reader saved under name, or the zero
// Position (the start) if it saved none.
func LoadPosition(ctx context.Context, db bun.IDB, name string) (Position, error) {
	var pos Position
	err := db.NewRaw("SELECT tx_id, seq FROM relay_positions WHERE name = ?", name).Scan(ctx, &pos.TxID, &pos.Seq)
	if errors.Is(err, sql.ErrNoRows) {
		return Position{}, nil
	}
	if err != nil {
		return Position{}, fmt.Errorf("load position of %q: %w", name, err)
	}
	return pos, nil
}

// SavePosition records pos as the position of the reader name, replacing
// the one saved before.
func SavePosition(ctx context.Context, db bun.IDB, name string, pos Position) error {
	_, err := db.NewRaw("INSERT INTO relay_positions (name, tx_id, seq) VALUES (?, ?, ?)"+
		" ON CONFLICT (name) DO UPDATE SET tx_id = excluded.tx_id, seq = excluded.seq",
		name, pos.TxID, pos.Seq).Exec(ctx)
	if err != nil {
		return fmt.Errorf("save position of %q: %w", name, err)
	}
	return nil
}

// HeadPosition returns the position of the last entry a reader can reach
// now, in Read's commit order: on PostgreSQL the last (tx_id, seq) among
// the transactions below the horizon (an entry of a transaction still
// running, or of a later one, comes after it), on SQLite the highest seq.
// A reader saved at it has every entry committed before it. An empty log
// has the zero Position.
func HeadPosition(ctx context.Context, db bun.IDB) (Position, error) {
	var q *bun.RawQuery
	if isPostgres(db) {
		q = db.NewRaw("WITH " + horizonCTE + " SELECT CAST(CAST(tx_id AS TEXT) AS BIGINT), seq FROM change_log, horizon" +
			" WHERE tx_id < horizon.xid ORDER BY tx_id DESC, seq DESC LIMIT 1")
	} else {
		q = db.NewRaw("SELECT 0, seq FROM change_log ORDER BY seq DESC LIMIT 1")
	}
	var pos Position
	err := q.Scan(ctx, &pos.TxID, &pos.Seq)
	if errors.Is(err, sql.ErrNoRows) {
		return Position{}, nil
	}
	if err != nil {
		return Position{}, fmt.Errorf("read the change log's head position: %w", err)
	}
	return pos, nil
}

// ForOrder returns the recorded events of one order by version: its
// history.
func ForOrder(ctx context.Context, db bun.IDB, orderID order.ID) ([]order.Event, error) {
	var rows []row
	if err := db.NewRaw("SELECT "+columns(db)+" FROM change_log WHERE order_id = ? ORDER BY order_version", orderID).
		Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("history of order %s: %w", orderID, err)
	}
	events := make([]order.Event, len(rows))
	for i := range rows {
		e, err := rows[i].event()
		if err != nil {
			return nil, err
		}
		events[i] = e
	}
	return events, nil
}

// EachBatch is how many rows Each and EachByOrder read at a time.
const EachBatch = 5000

// Each calls fn with every entry of the change log in seq order, reading
// EachBatch rows at a time, so that a reader can go through any number of
// events in little memory. A row that cannot be read is handed to fn with
// its Err set (see Entry). Each stops at fn's first error and returns it.
//
// An order's events are in version order, since a change to an order starts
// only after the previous one committed. On PostgreSQL, when db is a
// *bun.DB, the walk runs in one read-only repeatable-read transaction: it
// sees exactly the events committed when it started. (On SQLite, where
// commits come in seq order, it also sees those committed while it runs.)
// To hand over from a rebuild to a reader without a gap, rebuild with Read
// from the zero Position instead: its last position is where to go on.
func Each(ctx context.Context, db bun.IDB, fn func(Entry) error) error {
	return inSnapshot(ctx, db, func(ctx context.Context, db bun.IDB) error {
		var after int64
		for {
			entries, err := scan(ctx, db, "SELECT "+columns(db)+" FROM change_log WHERE seq > ? ORDER BY seq LIMIT ?", after, EachBatch)
			if err != nil {
				return fmt.Errorf("read the change log after seq %d: %w", after, err)
			}
			for _, en := range entries {
				if err := fn(en); err != nil {
					return err
				}
			}
			if len(entries) < EachBatch {
				return nil
			}
			after = entries[len(entries)-1].Seq
		}
	})
}

// EachByOrder calls fn with every entry of the change log ordered by order
// and version — each order's events together, oldest first — a page of up
// to EachBatch entries at a time (an order's events may go on in the next
// page). A projection rebuilt from the change log needs nothing more than
// each order's events in order: folded an order at a time, every order's
// rows are final when its last event is folded and are written once, with
// nothing read back. The pages are read by the key (order_id,
// order_version), which the change log's unique index serves. A row that
// cannot be read is in its page with its Err set (see Entry). It stops at
// fn's first error and returns it.
//
// On PostgreSQL, when db is a *bun.DB, it runs in one read-only
// repeatable-read transaction, as Each does: it sees exactly the events
// committed when it started. On SQLite it may also see some committed
// while it runs, each order's always in version order (a later version
// commits after the earlier ones).
func EachByOrder(ctx context.Context, db bun.IDB, fn func([]Entry) error) error {
	return inSnapshot(ctx, db, func(ctx context.Context, db bun.IDB) error {
		var afterOrder order.ID
		afterVersion := 0
		for {
			entries, err := scan(ctx, db, "SELECT "+columns(db)+" FROM change_log"+
				" WHERE (order_id, order_version) > (?, ?) ORDER BY order_id, order_version LIMIT ?",
				afterOrder, afterVersion, EachBatch)
			if err != nil {
				return fmt.Errorf("read the change log after order %s v%d: %w", afterOrder, afterVersion, err)
			}
			if len(entries) > 0 {
				if err := fn(entries); err != nil {
					return err
				}
			}
			if len(entries) < EachBatch {
				return nil
			}
			last := entries[len(entries)-1].Event
			afterOrder, afterVersion = last.OrderID, last.OrderVersion
		}
	})
}

// inSnapshot runs fn on db, on PostgreSQL in one read-only repeatable-read
// transaction when db is a *bun.DB: a walk through the change log in many
// statements then sees the events committed when it started, no more.
func inSnapshot(ctx context.Context, db bun.IDB, fn func(context.Context, bun.IDB) error) error {
	if d, ok := db.(*bun.DB); ok && isPostgres(db) {
		return d.RunInTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
			func(ctx context.Context, tx bun.Tx) error { return fn(ctx, tx) })
	}
	return fn(ctx, db)
}

// scan runs a query of columns(db) and reads its rows as entries, each
// column straight into its field (no reflection over a model: a rebuild
// reads every row of the log this way).
func scan(ctx context.Context, db bun.IDB, query string, args ...any) ([]Entry, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var entries []Entry
	var r row
	for rows.Next() {
		if err := rows.Scan(&r.Seq, &r.TxID, &r.EventID, &r.OrderID, &r.OrderVersion, &r.Type, &r.SchemaVersion,
			&r.Payload, &r.OccurredAt, &r.Metadata); err != nil {
			return nil, err
		}
		entries = append(entries, r.entry())
	}
	return entries, rows.Err()
}

// Count returns how many events the change log holds.
func Count(ctx context.Context, db bun.IDB) (int64, error) {
	var n int64
	if err := db.NewRaw("SELECT COUNT(*) FROM change_log").Scan(ctx, &n); err != nil {
		return 0, fmt.Errorf("count the change log: %w", err)
	}
	return n, nil
}
