package stage0

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
)

// Service is stage 0's CRUD service over the orders table. Each operation
// is one transaction; updates return the updated order.
type Service struct {
	db  *bun.DB
	now func() time.Time
}

// NewService returns the service on db (migrated write side).
func NewService(db *bun.DB) *Service {
	return &Service{db: db, now: time.Now}
}

// Create inserts the order a PlaceOrder describes and returns it with
// created true. If an order with that ID exists and was placed with the
// same content, it returns that order with created false; other content
// under the same ID is an ECONFLICT error.
func (s *Service) Create(ctx context.Context, cmd order.PlaceOrder) (*order.Order, bool, error) {
	o, _, err := order.Place(cmd, s.now())
	if err != nil {
		return nil, false, err
	}
	fp := order.Fingerprint(cmd)
	var out *order.Order
	created := false
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		inserted, err := Insert(ctx, tx, Row(o, fp))
		if err != nil || inserted {
			out, created = o, inserted
			return err
		}
		// The ID is taken, perhaps by a request racing this one: the same
		// content names the same order.
		existing, err := load(ctx, tx, o.ID, false)
		if err != nil {
			return err
		}
		if existing.PlaceFingerprint != fp {
			return order.Errorf(order.ECONFLICT, "order %s exists and was placed with other content", o.ID)
		}
		out = existing.Domain()
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return out, created, nil
}

// Get returns one order.
func (s *Service) Get(ctx context.Context, id order.ID) (*order.Order, error) {
	r, err := load(ctx, s.db, id, false)
	if err != nil {
		return nil, err
	}
	return r.Domain(), nil
}

// List returns a page of orders, newest first, with their lines.
func (s *Service) List(ctx context.Context, q order.SummaryQuery) ([]*order.Order, string, error) {
	q, err := q.Normalize()
	if err != nil {
		return nil, "", err
	}
	var rows []*Order
	sel := s.db.NewSelect().Model(&rows).
		Relation("Lines", func(sq *bun.SelectQuery) *bun.SelectQuery { return sq.Order("l.position") }).
		OrderExpr("o.created_at DESC, o.id DESC").
		Limit(int64(q.Limit + 1))
	sel = Filter(sel, "o", q)
	if err := sel.Scan(ctx); err != nil {
		return nil, "", fmt.Errorf("list orders: %w", err)
	}
	next := ""
	if len(rows) > q.Limit {
		rows = rows[:q.Limit]
		last := rows[len(rows)-1]
		next = order.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}.Encode()
	}
	out := make([]*order.Order, len(rows))
	for i, r := range rows {
		out[i] = r.Domain()
	}
	return out, next, nil
}

// Filter adds a summary query's status, customer search and keyset cursor
// to a select over orders aliased as alias. q must be normalized.
func Filter(sel *bun.SelectQuery, alias string, q order.SummaryQuery) *bun.SelectQuery {
	col := func(c string) bun.Ident { return bun.Ident(alias + "." + c) }
	if q.Status != "" {
		sel = sel.Where("? = ?", col("status"), q.Status)
	}
	if s := strings.TrimSpace(q.Q); s != "" {
		sel = sel.Where("lower(?) LIKE ? ESCAPE '\\'", col("customer"), "%"+escapeLike(strings.ToLower(s))+"%")
	}
	if q.After != "" {
		c, _ := order.DecodeCursor(q.After) // Normalize checked it
		sel = sel.Where("(? < ? OR (? = ? AND ? < ?))", col("created_at"), c.CreatedAt, col("created_at"), c.CreatedAt, col("id"), c.ID)
	}
	return sel
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Update reads an order, lets change modify it by the rules and writes it
// back, all in one transaction, and returns the order as it is now. A
// change that leaves the version as it was writes nothing.
func (s *Service) Update(ctx context.Context, id order.ID, change func(o *order.Order, now time.Time) error) (*order.Order, error) {
	var out *order.Order
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		r, err := load(ctx, tx, id, true)
		if err != nil {
			return err
		}
		o := r.Domain()
		if err := change(o, s.now()); err != nil {
			return err
		}
		out = o
		if o.Version == r.Version {
			return nil
		}
		return Save(ctx, tx, o, r.Version, !order.SameLines(r.Domain().Lines, o.Lines))
	})
	return out, err
}

// Delete deletes an order that the rules allow deleting.
func (s *Service) Delete(ctx context.Context, id order.ID, expectedVersion int) (*order.Order, error) {
	var out *order.Order
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		r, err := load(ctx, tx, id, true)
		if err != nil {
			return err
		}
		o := r.Domain()
		if _, err := o.Delete(order.DeleteOrder{ID: id, ExpectedVersion: expectedVersion}, s.now()); err != nil {
			return err
		}
		out = o
		return Remove(ctx, tx, id, r.Version)
	})
	return out, err
}

// Dashboard counts orders per status and sums revenue and top customers,
// on the fly, with joins and aggregates over the orders tables.
func (s *Service) Dashboard(ctx context.Context) (order.Dashboard, error) {
	d := order.Dashboard{Counts: map[order.Status]int{}, Revenue: order.Money{}, Source: order.WriteModel}
	var counts []struct {
		Status order.Status `bun:"status"`
		N      int          `bun:"n"`
	}
	if err := s.db.NewSelect().Table("orders").ColumnExpr("status, COUNT(*) AS n").Group("status").Scan(ctx, &counts); err != nil {
		return d, fmt.Errorf("count orders: %w", err)
	}
	for _, c := range counts {
		d.Counts[c.Status] = c.N
		d.Orders += c.N
	}
	var sums []order.CustomerSum
	err := s.db.NewSelect().TableExpr("orders AS o").
		Join("JOIN order_lines AS l ON l.order_id = o.id").
		ColumnExpr("o.customer, o.currency, COUNT(DISTINCT o.id) AS orders, SUM(l.quantity * l.unit_price_cents) AS cents").
		Where("o.status <> ?", order.Cancelled).
		GroupExpr("o.customer, o.currency").
		Scan(ctx, &sums)
	if err != nil {
		return d, fmt.Errorf("sum revenue: %w", err)
	}
	d.Revenue, d.TopCustomers = order.Rank(sums)
	return d, nil
}

// load reads one order row with its lines; forUpdate locks the row on
// PostgreSQL (SQLite's write transactions already hold the database).
func load(ctx context.Context, db bun.IDB, id order.ID, forUpdate bool) (*Order, error) {
	r := new(Order)
	q := db.NewSelect().Model(r).Where("o.id = ?", id)
	if forUpdate && sqlstore.DialectName(db) == sqlstore.Postgres {
		q = q.For("UPDATE OF o")
	}
	if err := q.Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, order.NotFound(id)
		}
		return nil, fmt.Errorf("load order %s: %w", id, err)
	}
	if err := db.NewSelect().Model(&r.Lines).Where("l.order_id = ?", id).Order("l.position").Scan(ctx); err != nil {
		return nil, fmt.Errorf("load lines of %s: %w", id, err)
	}
	return r, nil
}

// Load reads one order with its lines inside or outside a transaction,
// locking it for the rest of the transaction on PostgreSQL when forUpdate.
func Load(ctx context.Context, db bun.IDB, id order.ID, forUpdate bool) (*order.Order, string, error) {
	r, err := load(ctx, db, id, forUpdate)
	if err != nil {
		return nil, "", err
	}
	return r.Domain(), r.PlaceFingerprint, nil
}

// Insert writes a new order row and its lines, and reports whether it did:
// if the ID is taken it writes nothing. ON CONFLICT DO NOTHING rather than
// failing on the primary key, so that two requests placing the same order
// at once both learn of it instead of one failing.
func Insert(ctx context.Context, db bun.IDB, r *Order) (bool, error) {
	res, err := db.NewInsert().Model(r).On("CONFLICT (id) DO NOTHING").Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("insert order %s: %w", r.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if len(r.Lines) > 0 {
		if _, err := db.NewInsert().Model(&r.Lines).Exec(ctx); err != nil {
			return false, fmt.Errorf("insert lines of %s: %w", r.ID, err)
		}
	}
	return true, nil
}

// Save writes a changed order over the row at version from, replacing its
// lines when linesChanged. If the row is no longer at version from, it
// returns an ECONFLICT error: someone else wrote it meanwhile.
func Save(ctx context.Context, db bun.IDB, o *order.Order, from int, linesChanged bool) error {
	res, err := db.NewUpdate().Model((*Order)(nil)).
		Set("status = ?", o.Status).Set("version = ?", o.Version).Set("updated_at = ?", o.UpdatedAt).
		Where("id = ?", o.ID).Where("version = ?", from).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("update order %s: %w", o.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return staleWrite(ctx, db, o.ID, from)
	}
	if !linesChanged {
		return nil
	}
	if _, err := db.NewDelete().Model((*Line)(nil)).Where("order_id = ?", o.ID).Exec(ctx); err != nil {
		return fmt.Errorf("replace lines of %s: %w", o.ID, err)
	}
	rows := LineRows(o.ID, o.Lines)
	if _, err := db.NewInsert().Model(&rows).Exec(ctx); err != nil {
		return fmt.Errorf("replace lines of %s: %w", o.ID, err)
	}
	return nil
}

// Remove deletes the order row at version from (its lines go with it).
func Remove(ctx context.Context, db bun.IDB, id order.ID, from int) error {
	res, err := db.NewDelete().Model((*Order)(nil)).Where("id = ?", id).Where("version = ?", from).Exec(ctx)
	if err != nil {
		return fmt.Errorf("delete order %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return staleWrite(ctx, db, id, from)
	}
	return nil
}

func staleWrite(ctx context.Context, db bun.IDB, id order.ID, from int) error {
	current, err := load(ctx, db, id, false)
	if err != nil {
		return err
	}
	return order.VersionConflict(current.Domain(), from)
}
