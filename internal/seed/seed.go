// Package seed makes up orders as a shop sees them and writes them to the
// database of record with their events in the change log, as stage 3
// writes them, many orders to a transaction: `staircase seed`, and the
// workshop's reset with fresh orders.
package seed

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/command"
)

// batch is how many orders one transaction writes.
const batch = 500

// Orders adds n made-up orders, with their events, to the write database
// db, and reports after each batch (done orders, events so far). seed
// picks the orders' contents: the same seed makes the same contents (IDs
// stay unique); 0 picks one. It returns the seed used and the number of
// events written.
func Orders(ctx context.Context, db *bun.DB, n int, seed uint64, progress func(done, events int)) (usedSeed uint64, events int, err error) {
	if seed == 0 {
		seed = mrand.Uint64()
	}
	s := newSeeder(seed, time.Now(), n)
	for done := 0; done < n; {
		k := min(batch, n-done)
		orders, evs, err := s.orders(k)
		if err != nil {
			return seed, events, err
		}
		if err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			return insert(ctx, tx, orders, evs)
		}); err != nil {
			return seed, events, err
		}
		done += k
		events += len(evs)
		if progress != nil {
			progress(done, events)
		}
	}
	return seed, events, nil
}

// insert writes orders, their lines and their events in a few
// multi-row inserts.
func insert(ctx context.Context, db bun.IDB, orders []*command.Order, events []order.Event) error {
	if _, err := db.NewInsert().Model(&orders).Exec(ctx); err != nil {
		return fmt.Errorf("insert orders: %w", err)
	}
	var lines []*command.Line
	for _, o := range orders {
		lines = append(lines, o.Lines...)
	}
	// SQLite takes at most 32,766 values in one statement.
	for len(lines) > 0 {
		chunk := lines[:min(len(lines), 4000)]
		lines = lines[len(chunk):]
		if _, err := db.NewInsert().Model(&chunk).Exec(ctx); err != nil {
			return fmt.Errorf("insert lines: %w", err)
		}
	}
	for len(events) > 0 {
		chunk := events[:min(len(events), 3000)]
		events = events[len(chunk):]
		if err := changelog.Append(ctx, db, chunk); err != nil {
			return err
		}
	}
	return nil
}

// seeder makes orders as a shop sees them: customers who come back, a
// catalogue of products, most orders shipped or delivered within days,
// some cancelled, some changed before they shipped. Orders are placed over
// the 90 days before now, oldest first.
type seeder struct {
	rng   *mrand.Rand
	now   time.Time
	at    time.Time
	step  time.Duration
	names []string
}

var (
	seedFirst = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Frances", "Tim",
		"Radia", "Linus", "Hedy", "John", "Katherine", "Dennis", "Annie", "Niklaus", "Sophie", "Guido"}
	seedLast = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson", "Allen",
		"Berners-Lee", "Perlman", "Torvalds", "Lamarr", "Backus", "Johnson", "Ritchie", "Easley", "Wirth", "Wilson", "van Rossum"}
	seedStreets = []string{"Loop Road", "Stack Street", "Heap Lane", "Queue Avenue", "Branch Way", "Merge Court", "Commit Row"}
	seedTowns   = []string{"Springfield", "Shelbyville", "Ogdenville", "North Haverbrook", "Capital City"}
	seedGoods   = []struct {
		sku, name string
		cents     int64
	}{
		{"TEA-01", "Green tea", 1250}, {"TEA-02", "Black tea", 1100}, {"CUP-02", "Cup", 800}, {"POT-01", "Teapot", 4500},
		{"BOOK-1", "Notebook", 900}, {"PEN-03", "Fountain pen", 3200}, {"INK-07", "Ink, blue", 650}, {"LAMP-2", "Desk lamp", 5900},
		{"MUG-11", "Mug", 1400}, {"CAKE-9", "Fruit cake", 2100}, {"SOAP-4", "Soap", 450}, {"SOCK-6", "Wool socks", 1800},
	}
)

func newSeeder(seed uint64, now time.Time, n int) *seeder {
	const span = 90 * 24 * time.Hour
	s := &seeder{rng: mrand.New(mrand.NewPCG(seed, seed^0x5eed)), now: now.UTC(), at: now.UTC().Add(-span),
		step: max(2*time.Microsecond, 2*span/time.Duration(max(n, 1)))} // the gaps average step/2
	// About 2,000 customers, a few of whom order often.
	for range 2000 {
		s.names = append(s.names, seedFirst[s.rng.IntN(len(seedFirst))]+" "+seedLast[s.rng.IntN(len(seedLast))])
	}
	return s
}

// orders makes the next k orders and their events.
func (s *seeder) orders(k int) ([]*command.Order, []order.Event, error) {
	rows := make([]*command.Order, 0, k)
	var events []order.Event
	for range k {
		s.at = s.at.Add(time.Duration(1 + s.rng.Int64N(int64(s.step))))
		o, evs, fp, err := s.order(s.at)
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows, command.Row(o, fp))
		events = append(events, evs...)
	}
	return rows, events, nil
}

// order places one order at at and takes it through its life.
func (s *seeder) order(at time.Time) (*order.Order, []order.Event, string, error) {
	customer := s.names[int(float64(len(s.names))*s.rng.Float64()*s.rng.Float64())] // skewed: some come back often
	cmd := order.PlaceOrder{
		ID:       idAt(at),
		Customer: customer,
		Address:  fmt.Sprintf("%d %s, %s", 1+s.rng.IntN(200), seedStreets[s.rng.IntN(len(seedStreets))], seedTowns[s.rng.IntN(len(seedTowns))]),
		Currency: []string{"USD", "USD", "USD", "EUR", "GBP"}[s.rng.IntN(5)],
		Lines:    s.lines(),
	}
	o, placed, err := order.Place(cmd, at)
	if err != nil {
		return nil, nil, "", fmt.Errorf("seed order: %w", err)
	}
	events := []order.Event{placed}
	later := func() time.Time {
		at = at.Add(time.Duration(1+s.rng.IntN(72)) * time.Hour)
		if at.After(s.now) {
			at = s.now
		}
		return at
	}
	step := func(ev order.Event, err error) error {
		if err == nil {
			events = append(events, ev)
		}
		return err
	}
	if s.rng.IntN(10) == 0 {
		err = step(o.ChangeLines(order.ChangeOrderLines{ID: o.ID, Lines: s.lines()}, later()))
	}
	switch r := s.rng.IntN(100); {
	case err != nil:
	case r < 15:
		err = step(o.Cancel(order.CancelOrder{ID: o.ID, Reason: "changed my mind"}, later()))
	case r < 45:
		// placed, not yet shipped
	case r < 70:
		err = step(o.Ship(order.ShipOrder{ID: o.ID}, later()))
	default:
		if err = step(o.Ship(order.ShipOrder{ID: o.ID}, later())); err == nil {
			err = step(o.Deliver(order.DeliverOrder{ID: o.ID}, later()))
		}
	}
	if err != nil {
		return nil, nil, "", fmt.Errorf("seed order %s: %w", o.ID, err)
	}
	return o, events, order.Fingerprint(cmd), nil
}

// lines picks one to five different products.
func (s *seeder) lines() []order.Line {
	n := 1 + s.rng.IntN(5)
	out := make([]order.Line, 0, n)
	for _, i := range s.rng.Perm(len(seedGoods))[:n] {
		g := seedGoods[i]
		out = append(out, order.Line{SKU: g.sku, Name: g.name, Quantity: 1 + s.rng.IntN(4), UnitPriceCents: g.cents})
	}
	return out
}

// idAt is a UUIDv7 of time at, so seeded orders sort as if made then; its
// random bits come from the system, so IDs never repeat across seeds.
func idAt(at time.Time) order.ID {
	var u uuid.UUID
	_, _ = rand.Read(u[:])
	ms := uint64(at.UnixMilli())
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = 0x70 | u[6]&0x0f // version 7
	u[8] = 0x80 | u[8]&0x3f // RFC 4122 variant
	return u
}
