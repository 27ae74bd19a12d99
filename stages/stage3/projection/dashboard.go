package projection

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
)

// The dashboard projection is a second projection of the same events, made
// for one screen: the orders per status, the revenue per currency and the
// customers ranked by their orders, kept as figures that each event changes
// by a delta, so that the dashboard reads a handful of rows however many
// orders there are. Its own consumer of the event bus applies the events
// (ApplyDashboard), with the same rules as the order rows: idempotent and in
// order per order by version, kept in a per-order row (the version applied
// and what the order adds to the figures). A rebuild fills it from the
// change log alone (package rebuild), and Reconcile's counterpart
// (ReconcileDashboard) brings it up to the database of record.

// DashboardTables names the dashboard projection's tables.
type DashboardTables struct {
	// Orders is the per-order state: dashboard_orders.
	Orders string
	// Statuses, Revenue, Customers and CustomerRevenue are the figures.
	Statuses, Revenue, Customers, CustomerRevenue string
}

// DashboardLive is the tables the dashboard reads, made by the read side's
// migrations.
var DashboardLive = DashboardTables{Orders: "dashboard_orders", Statuses: "dashboard_statuses",
	Revenue: "dashboard_revenue", Customers: "dashboard_customers", CustomerRevenue: "dashboard_customer_revenue"}

// DashboardShadow is where a rebuild of the dashboard fills a fresh copy
// while the live tables go on serving.
var DashboardShadow = DashboardTables{Orders: "dashboard_orders_shadow", Statuses: "dashboard_statuses_shadow",
	Revenue: "dashboard_revenue_shadow", Customers: "dashboard_customers_shadow", CustomerRevenue: "dashboard_customer_revenue_shadow"}

func (t DashboardTables) list() []string {
	return []string{t.Orders, t.Statuses, t.Revenue, t.Customers, t.CustomerRevenue}
}

// dashOrder is a row of dashboard_orders: how far the dashboard has an
// order, and what it adds to the figures.
type dashOrder struct {
	bun.BaseModel `bun:"table:dashboard_orders,alias:d"`

	ID         order.ID     `bun:"id,pk"`
	Version    int          `bun:"version"`
	Customer   string       `bun:"customer"`
	Currency   string       `bun:"currency"`
	Status     order.Status `bun:"status"`
	TotalCents int64        `bun:"total_cents"`
	Deleted    bool         `bun:"deleted"`
}

// next is the order's row after e, which must be its next version; cur is
// nil for an order the dashboard does not have. The order's rules refuse
// what they refuse for the order rows (ErrRefused).
func (cur *dashOrder) next(e order.Event) (*dashOrder, error) {
	o := order.Order{}
	var total int64
	if cur != nil {
		o = order.Order{ID: cur.ID, Customer: cur.Customer, Currency: cur.Currency, Status: cur.Status, Version: cur.Version}
		total = cur.TotalCents
	}
	if err := o.Apply(e); err != nil {
		return nil, fmt.Errorf("project %s v%d of order %s on the dashboard: %w: %w", e.Type, e.OrderVersion, e.OrderID, ErrRefused, err)
	}
	switch e.Payload.(type) {
	case order.OrderPlaced, order.OrderLinesChanged:
		total = o.TotalCents()
	}
	_, deleted := e.Payload.(order.OrderDeleted)
	return &dashOrder{ID: e.OrderID, Version: o.Version, Customer: o.Customer, Currency: o.Currency, Status: o.Status,
		TotalCents: total, Deleted: deleted}, nil
}

// figureKey is one row of a figures table.
type figureKey struct{ table, a, b string }

// figureDelta is what a change adds to one row of the figures.
type figureDelta struct {
	orders int64
	cents  int64
}

// addTo adds what order row r counts for to the figures, times sign: a
// deleted order counts for nothing, a cancelled one only in its status.
func (r *dashOrder) addTo(t DashboardTables, d map[figureKey]figureDelta, sign int64) {
	if r == nil || r.Deleted {
		return
	}
	add := func(k figureKey, cents int64) {
		v := d[k]
		v.orders += sign
		v.cents += sign * cents
		d[k] = v
	}
	add(figureKey{table: t.Statuses, a: string(r.Status)}, 0)
	if r.Status == order.Cancelled {
		return
	}
	add(figureKey{table: t.Revenue, a: r.Currency}, r.TotalCents)
	add(figureKey{table: t.Customers, a: r.Customer}, r.TotalCents)
	add(figureKey{table: t.CustomerRevenue, a: r.Customer, b: r.Currency}, r.TotalCents)
}

// setDashOrder puts next in old's place in the tables t and changes the
// figures by the difference, in tx. old is the row as read in tx (nil: none);
// the write is made only if the row is still so, else errRaced.
func setDashOrder(ctx context.Context, tx bun.IDB, t DashboardTables, old, next *dashOrder) error {
	d := map[figureKey]figureDelta{}
	if err := writeDashOrder(ctx, tx, t, old, next, d); err != nil {
		return err
	}
	return addFigures(ctx, tx, t, d)
}

// writeDashOrder puts next in old's place, as setDashOrder does, and adds
// the difference to d instead of the figures: a writer of many orders in
// one transaction changes the figures once, last, so that on PostgreSQL it
// takes the figures' row locks after the orders', in the order every
// writer takes them (one order's row, then the figures).
func writeDashOrder(ctx context.Context, tx bun.IDB, t DashboardTables, old, next *dashOrder, d map[figureKey]figureDelta) error {
	var res sql.Result
	var err error
	if old == nil {
		res, err = tx.NewInsert().Model(next).ModelTableExpr("?", bun.Ident(t.Orders)).On("CONFLICT (id) DO NOTHING").Exec(ctx)
	} else {
		res, err = tx.NewUpdate().Model(next).ModelTableExpr("?", bun.Ident(t.Orders)).ExcludeColumn("id").
			Where("id = ?", old.ID).Where("version = ?", old.Version).Where("deleted = ?", old.Deleted).Exec(ctx)
	}
	if err != nil {
		return fmt.Errorf("write the dashboard's order %s: %w", next.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errRaced
	}
	old.addTo(t, d, -1)
	next.addTo(t, d, +1)
	return nil
}

// addFigures adds d to the figures, one statement per table, rows in key
// order (so that two writers on PostgreSQL lock them in the same order).
func addFigures(ctx context.Context, tx bun.IDB, t DashboardTables, d map[figureKey]figureDelta) error {
	keys := make([]figureKey, 0, len(d))
	for k, v := range d {
		if v != (figureDelta{}) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(x, y figureKey) int {
		return cmp.Or(cmp.Compare(x.table, y.table), cmp.Compare(x.a, y.a), cmp.Compare(x.b, y.b))
	})
	for _, table := range []string{t.CustomerRevenue, t.Customers, t.Revenue, t.Statuses} {
		var values []bun.Safe
		var args []any
		for _, k := range keys {
			if k.table != table {
				continue
			}
			v := d[k]
			switch table {
			case t.Statuses:
				values = append(values, "(?, ?)")
				args = append(args, k.a, v.orders)
			case t.CustomerRevenue:
				values = append(values, "(?, ?, ?, ?)")
				args = append(args, k.a, k.b, v.orders, v.cents)
			default:
				values = append(values, "(?, ?, ?)")
				args = append(args, k.a, v.orders, v.cents)
			}
		}
		if len(values) == 0 {
			continue
		}
		var cols, key, set string
		switch table {
		case t.Statuses:
			cols, key, set = "status, orders", "status", "orders = %[1]s.orders + EXCLUDED.orders"
		case t.Revenue:
			cols, key = "currency, orders, cents", "currency"
		case t.Customers:
			cols, key = "customer, orders, cents", "customer"
		case t.CustomerRevenue:
			cols, key = "customer, currency, orders, cents", "customer, currency"
		}
		if set == "" {
			set = "orders = %[1]s.orders + EXCLUDED.orders, cents = %[1]s.cents + EXCLUDED.cents"
		}
		set = fmt.Sprintf(set, quote(table))
		q := "INSERT INTO " + quote(table) + " (" + cols + ") VALUES "
		for i := range values {
			if i > 0 {
				q += ", "
			}
			q += string(values[i])
		}
		q += " ON CONFLICT (" + key + ") DO UPDATE SET " + set
		if _, err := tx.NewRaw(q, args...).Exec(ctx); err != nil {
			return fmt.Errorf("add to %s: %w", table, err)
		}
	}
	return nil
}

// loadDashOrder reads an order's row of the dashboard, tombstone included;
// nil if there is none.
func loadDashOrder(ctx context.Context, db bun.IDB, t DashboardTables, id order.ID) (*dashOrder, error) {
	r := new(dashOrder)
	err := db.NewSelect().Model(r).ModelTableExpr("? AS d", bun.Ident(t.Orders)).Where("d.id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the dashboard's order %s: %w", id, err)
	}
	return r, nil
}

// ApplyDashboard projects one event onto the dashboard's tables t, in one
// transaction, with Apply's rules: an event at or below the order's stored
// version, or of a deleted order, changes nothing (OutcomeDuplicate); the
// next one changes the order's row and the figures by the difference
// (OutcomeApplied); a later one fails with ErrGap, one the order's rules
// refuse with ErrRefused. It is safe beside other writers of the same
// tables: the write is made only if the order's row is still as read.
func ApplyDashboard(ctx context.Context, db *bun.DB, t DashboardTables, e order.Event) (Outcome, error) {
	for attempt := 1; ; attempt++ {
		var out Outcome
		err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			d := map[figureKey]figureDelta{}
			var err error
			if out, err = applyDashboard(ctx, tx, t, e, d); err != nil {
				return err
			}
			return addFigures(ctx, tx, t, d)
		})
		if errors.Is(err, errRaced) && attempt < 10 {
			continue
		}
		if err != nil {
			return 0, err
		}
		return out, nil
	}
}

// applyDashboard is ApplyDashboard's step in tx: it writes the order's row
// and adds what the event changes in the figures to d.
func applyDashboard(ctx context.Context, tx bun.IDB, t DashboardTables, e order.Event, d map[figureKey]figureDelta) (Outcome, error) {
	if e.OrderVersion < 1 {
		return 0, fmt.Errorf("%w: event %s of order %s has no version", ErrRefused, e.Type, e.OrderID)
	}
	if e.OrderVersion == 1 {
		// An order's first event is written without reading its row
		// first, as placeView does: a row that exists has a version of at
		// least 1, so the insert that finds one makes it a duplicate. A
		// first event the rules refuse takes the usual path.
		if next, err := (*dashOrder)(nil).next(e); err == nil {
			err := writeDashOrder(ctx, tx, t, nil, next, d)
			if errors.Is(err, errRaced) {
				return OutcomeDuplicate, nil
			}
			if err != nil {
				return 0, err
			}
			return OutcomeApplied, nil
		}
	}
	cur, err := loadDashOrder(ctx, tx, t, e.OrderID)
	if err != nil {
		return 0, err
	}
	stored := 0
	if cur != nil {
		if cur.Deleted {
			return OutcomeDuplicate, nil
		}
		stored = cur.Version
	}
	switch {
	case e.OrderVersion <= stored:
		return OutcomeDuplicate, nil
	case e.OrderVersion > stored+1:
		return 0, fmt.Errorf("%w: %s v%d of order %s arrived while the dashboard is at v%d", ErrGap, e.Type, e.OrderVersion, e.OrderID, stored)
	}
	next, err := cur.next(e)
	if err != nil {
		return 0, err
	}
	if err := writeDashOrder(ctx, tx, t, cur, next, d); err != nil {
		return 0, err
	}
	return OutcomeApplied, nil
}

// DashboardBatch applies many events to the dashboard's tables in the
// caller's transaction (the dashboard projector's batches), with
// ApplyDashboard's rules: each event's order row is written at once, so
// that the next event of the order finds it, and what the events change in
// the figures is summed and written once for them all (Write), last in the
// transaction. On PostgreSQL the figures' rows, which every event changes,
// are then locked in one go after the orders' and only until the commit.
// A race with another writer starts an event's step over within the
// transaction, as Batch.Apply does.
type DashboardBatch struct {
	t DashboardTables
	d map[figureKey]figureDelta
}

// NewDashboardBatch returns an empty batch for the tables t.
func NewDashboardBatch(t DashboardTables) *DashboardBatch {
	return &DashboardBatch{t: t, d: map[figureKey]figureDelta{}}
}

// Apply applies e in tx, keeping its change of the figures for Write. An
// error wrapping ErrGap or ErrRefused leaves tx and the batch as they
// were; any other may leave tx half-written, for the caller to roll back
// (and Discard the batch).
func (b *DashboardBatch) Apply(ctx context.Context, tx bun.IDB, e order.Event) (Outcome, error) {
	for attempt := 1; ; attempt++ {
		out, err := applyDashboard(ctx, tx, b.t, e, b.d)
		if errors.Is(err, errRaced) && attempt < 10 {
			continue
		}
		return out, err
	}
}

// Write adds the events' changes to the figures in tx, and empties the
// batch for the next transaction.
func (b *DashboardBatch) Write(ctx context.Context, tx bun.IDB) error {
	d := b.d
	b.d = map[figureKey]figureDelta{}
	return addFigures(ctx, tx, b.t, d)
}

// Discard forgets the events' changes, when their transaction rolled
// back.
func (b *DashboardBatch) Discard() {
	b.d = map[figureKey]figureDelta{}
}

// DashboardVersion is the version of an order the dashboard has applied, 0
// if it has none (a deleted order's is its tombstone's).
func DashboardVersion(ctx context.Context, db bun.IDB, id order.ID) (int, error) {
	r, err := loadDashOrder(ctx, db, DashboardLive, id)
	if err != nil || r == nil {
		return 0, err
	}
	return r.Version, nil
}

// Dashboard returns the dashboard from the dashboard projection's tables:
// the count of orders per status, the revenue per currency of the orders
// that are not cancelled, and the customers with the most such orders
// (then the most spent, then by name: order.Rank's order) — a few rows
// read by key, whatever the number of orders.
func (m *ReadModel) Dashboard(ctx context.Context) (order.Dashboard, error) {
	t := DashboardLive
	d := order.Dashboard{Counts: map[order.Status]int{}, Revenue: order.Money{}, TopCustomers: []order.CustomerTotal{}, Source: order.ReadModel}
	err := m.db.RunInTx(ctx, &sql.TxOptions{ReadOnly: true}, func(ctx context.Context, tx bun.Tx) error {
		var counts []struct {
			Status order.Status `bun:"status"`
			Orders int          `bun:"orders"`
		}
		if err := tx.NewSelect().TableExpr("?", bun.Ident(t.Statuses)).Column("status", "orders").
			Where("orders > 0").Scan(ctx, &counts); err != nil {
			return fmt.Errorf("read the orders per status: %w", err)
		}
		for _, c := range counts {
			d.Counts[c.Status] = c.Orders
			d.Orders += c.Orders
		}
		var revenue []struct {
			Currency string `bun:"currency"`
			Cents    int64  `bun:"cents"`
		}
		if err := tx.NewSelect().TableExpr("?", bun.Ident(t.Revenue)).Column("currency", "cents").
			Where("orders > 0").Scan(ctx, &revenue); err != nil {
			return fmt.Errorf("read the revenue: %w", err)
		}
		for _, r := range revenue {
			d.Revenue[r.Currency] = r.Cents
		}
		// Names compare byte by byte, as order.Rank compares them: on
		// PostgreSQL that is the C collation.
		byName := "customer"
		if sqlstore.DialectName(tx) == sqlstore.Postgres {
			byName = `customer COLLATE "C"`
		}
		var tops []struct {
			Customer string `bun:"customer"`
			Orders   int    `bun:"orders"`
		}
		if err := tx.NewSelect().TableExpr("?", bun.Ident(t.Customers)).Column("customer", "orders").
			Where("orders > 0").OrderExpr("orders DESC, cents DESC, "+byName).Limit(order.TopCustomersLimit).
			Scan(ctx, &tops); err != nil {
			return fmt.Errorf("rank the customers: %w", err)
		}
		if len(tops) == 0 {
			return nil
		}
		names := make([]string, len(tops))
		for i, c := range tops {
			names[i] = c.Customer
		}
		var spent []struct {
			Customer string `bun:"customer"`
			Currency string `bun:"currency"`
			Cents    int64  `bun:"cents"`
		}
		if err := tx.NewSelect().TableExpr("?", bun.Ident(t.CustomerRevenue)).Column("customer", "currency", "cents").
			Where("customer IN (?)", bun.In(names)).Where("orders > 0").Scan(ctx, &spent); err != nil {
			return fmt.Errorf("read the top customers' revenue: %w", err)
		}
		by := make(map[string]order.Money, len(tops))
		for _, s := range spent {
			if by[s.Customer] == nil {
				by[s.Customer] = order.Money{}
			}
			by[s.Customer][s.Currency] = s.Cents
		}
		for _, c := range tops {
			m := by[c.Customer]
			if m == nil {
				m = order.Money{}
			}
			d.TopCustomers = append(d.TopCustomers, order.CustomerTotal{Customer: c.Customer, Orders: c.Orders, Revenue: m})
		}
		return nil
	})
	return d, err
}
