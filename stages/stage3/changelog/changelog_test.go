package changelog_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/command"
)

// life returns n events of a new order: placed, then lines changed.
func life(n int) []order.Event {
	id := order.NewID()
	events := []order.Event{event(id, 1, order.OrderPlaced{Customer: "Ada", Address: "1 Main St", Currency: "GBP", Lines: someLines})}
	for v := 2; v <= n; v++ {
		events = append(events, event(id, v, order.OrderLinesChanged{Lines: []order.Line{{SKU: "S", Name: "N", Quantity: v, UnitPriceCents: 5}}}))
	}
	return events
}

func appendEvents(t testing.TB, db bun.IDB, events []order.Event) {
	t.Helper()
	if err := changelog.Append(context.Background(), db, events); err != nil {
		t.Fatal(err)
	}
}

func count(t testing.TB, db bun.IDB) int64 {
	t.Helper()
	n, err := changelog.Count(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func less(a, b changelog.Position) bool {
	return a.TxID < b.TxID || a.TxID == b.TxID && a.Seq < b.Seq
}

// readAll reads from after until want entries came, or fails after a
// while: on PostgreSQL a transaction of another database on the same server
// can hold the snapshot's xmin back for a moment.
func readAll(t testing.TB, db bun.IDB, after changelog.Position, limit, want int) []changelog.Entry {
	t.Helper()
	var all []changelog.Entry
	deadline := time.Now().Add(30 * time.Second)
	for len(all) < want {
		got, err := changelog.Read(context.Background(), db, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("read %d entries, want %d", len(all), want)
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		for _, e := range got {
			if !less(after, e.Position) {
				t.Fatalf("position went from %+v to %+v", after, e.Position)
			}
			after = e.Position
		}
		all = append(all, got...)
	}
	return all
}

func sameEvents(t testing.TB, got []order.Event, want []order.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("event %d\n got %#v\nwant %#v", i, got[i], want[i])
		}
	}
}

func TestChangeLog(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			tests := []struct {
				name string
				run  func(t *testing.T, db *bun.DB)
			}{
				{"append_then_read_in_order_with_positions", testAppendRead},
				{"duplicate_order_version_fails_the_writers_transaction", testDuplicate},
				{"rolled_back_transaction_leaves_nothing", testRollback},
				{"positions_are_saved_and_loaded", testPositions},
				{"for_order_returns_the_history_by_version", testForOrder},
				{"order_placed_v1_row_is_upcast", testUpcastRow},
				{"undecodable_row_is_handed_out_marked_with_an_error_naming_its_seq", testUndecodable},
				{"repository_records_every_save_in_its_transaction", testRepository},
				{"each_streams_10k_events_in_order", testEach},
				{"concurrent_writers_reader_sees_every_event_once", testConcurrent},
				{"head_position_is_the_last_entry_a_reader_reaches", testHeadPosition},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, sqltest.Open(t, b, migrations.Write)) })
			}
		})
	}
}

func testAppendRead(t *testing.T, db *bun.DB) {
	ctx := context.Background()
	a, b := life(3), life(2)
	appendEvents(t, db, a)
	appendEvents(t, db, b)
	appendEvents(t, db, nil)
	want := append(append([]order.Event(nil), a...), b...)

	// Read in pages of 2.
	entries := readAll(t, db, changelog.Position{}, 2, len(want))
	var got []order.Event
	for _, e := range entries {
		if e.Seq <= 0 {
			t.Fatalf("entry without seq: %+v", e.Position)
		}
		if pg := sqlstore.DialectName(db) == sqlstore.Postgres; pg != (e.TxID != 0) {
			t.Fatalf("position %+v on %s", e.Position, sqlstore.DialectName(db))
		}
		got = append(got, e.Event)
	}
	sameEvents(t, got, want)
	// One Append is one transaction on PostgreSQL.
	if entries[0].TxID != entries[2].TxID {
		t.Errorf("one append, two transactions: %+v %+v", entries[0].Position, entries[2].Position)
	}

	last := entries[len(entries)-1].Position
	if more, err := changelog.Read(ctx, db, last, 10); err != nil || len(more) != 0 {
		t.Fatalf("read after the last position: %d entries, %v", len(more), err)
	}
	if from2, err := changelog.Read(ctx, db, entries[1].Position, 0); err != nil || len(from2) != 3 || from2[0].Event.ID != want[2].ID {
		t.Fatalf("read after the 2nd entry: %d entries, %v", len(from2), err)
	}
	if n := count(t, db); n != 5 {
		t.Fatalf("Count = %d, want 5", n)
	}
}

func testDuplicate(t *testing.T, db *bun.DB) {
	ctx := context.Background()
	ev := life(2)
	appendEvents(t, db, ev)

	again := life(2)[1]
	again.OrderID = ev[0].OrderID // another event, same order and version
	sentinel := errors.New("not reached")
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := changelog.Append(ctx, tx, life(1)); err != nil {
			return err
		}
		if err := changelog.Append(ctx, tx, []order.Event{again}); err != nil {
			return err
		}
		return sentinel
	})
	if err == nil || errors.Is(err, sentinel) {
		t.Fatalf("appending version 2 of an order twice: %v", err)
	}
	if n := count(t, db); n != 2 {
		t.Fatalf("after the failed transaction the log holds %d events, want 2", n)
	}
	// The same event ID twice fails too.
	sameID := life(1)
	sameID[0].ID = ev[0].ID
	if err := changelog.Append(ctx, db, sameID); err == nil {
		t.Fatal("an event ID was recorded twice")
	}
	// Within one batch as well.
	dup := life(2)
	dup[1].OrderVersion = 1
	if err := changelog.Append(ctx, db, dup); err == nil {
		t.Fatal("a batch with one version twice was recorded")
	}
	if n := count(t, db); n != 2 {
		t.Fatalf("the log holds %d events, want 2", n)
	}
}

func testRollback(t *testing.T, db *bun.DB) {
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(t, tx, life(3))
	if n := count(t, tx); n != 3 {
		t.Fatalf("inside the transaction the log holds %d, want 3", n)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db); n != 0 {
		t.Fatalf("after rollback the log holds %d events", n)
	}
	if got, err := changelog.Read(ctx, db, changelog.Position{}, 10); err != nil || len(got) != 0 {
		t.Fatalf("after rollback Read = %d entries, %v", len(got), err)
	}
}

func testPositions(t *testing.T, db *bun.DB) {
	ctx := context.Background()
	if p, err := changelog.LoadPosition(ctx, db, "relay"); err != nil || p != (changelog.Position{}) {
		t.Fatalf("unsaved position = %+v, %v", p, err)
	}
	for _, p := range []changelog.Position{{TxID: 1 << 40, Seq: 7}, {TxID: 1<<40 + 3, Seq: 5}} {
		if err := changelog.SavePosition(ctx, db, "relay", p); err != nil {
			t.Fatal(err)
		}
		if got, err := changelog.LoadPosition(ctx, db, "relay"); err != nil || got != p {
			t.Fatalf("LoadPosition = %+v, %v; want %+v", got, err, p)
		}
	}
	if p, err := changelog.LoadPosition(ctx, db, "other"); err != nil || p != (changelog.Position{}) {
		t.Fatalf("other reader's position = %+v, %v", p, err)
	}
}

func testForOrder(t *testing.T, db *bun.DB) {
	ctx := context.Background()
	a, b := life(4), life(2)
	// Interleave the two orders' events across appends.
	appendEvents(t, db, a[:2])
	appendEvents(t, db, b)
	appendEvents(t, db, a[2:])
	got, err := changelog.ForOrder(ctx, db, a[0].OrderID)
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, got, a)
	if got, err := changelog.ForOrder(ctx, db, order.NewID()); err != nil || len(got) != 0 {
		t.Fatalf("history of an unknown order: %d, %v", len(got), err)
	}
}

// insertRaw stores a row as an older version of the app would have.
func insertRaw(t testing.TB, db bun.IDB, id order.ID, version int, typ string, schema int, payload string) {
	t.Helper()
	_, err := db.NewRaw("INSERT INTO change_log (event_id, order_id, order_version, type, schema_version, payload, occurred_at)"+
		" VALUES (?, ?, ?, ?, ?, ?, ?)", uuid.Must(uuid.NewV7()), id, version, typ, schema, payload, t0).Exec(context.Background())
	if err != nil {
		t.Fatal(err)
	}
}

func testUpcastRow(t *testing.T, db *bun.DB) {
	ctx := context.Background()
	id := order.NewID()
	insertRaw(t, db, id, 1, "OrderPlaced", 1,
		`{"customer":"Ada","address":"1 Main St","lines":[{"sku":"BOOK-1","name":"Notes","quantity":2,"unit_price_cents":4200}]}`)
	want := order.OrderPlaced{Customer: "Ada", Address: "1 Main St", Currency: "USD", Lines: someLines}

	entries := readAll(t, db, changelog.Position{}, 10, 1)
	hist, err := changelog.ForOrder(ctx, db, id)
	if err != nil || len(hist) != 1 {
		t.Fatalf("ForOrder: %d, %v", len(hist), err)
	}
	for _, e := range []order.Event{entries[0].Event, hist[0]} {
		if !reflect.DeepEqual(e.Payload, want) || e.SchemaVersion != 1 || e.OrderID != id || !e.OccurredAt.Equal(t0) {
			t.Fatalf("v1 row read as %+v", e)
		}
	}
	var o order.Order
	if err := o.Apply(hist[0]); err != nil || o.Currency != "USD" {
		t.Fatalf("Apply v1: %v, currency %q", err, o.Currency)
	}
}

func testUndecodable(t *testing.T, db *bun.DB) {
	ctx := context.Background()
	good := life(1)
	appendEvents(t, db, good)
	id := order.NewID()
	insertRaw(t, db, id, 1, "OrderExploded", 1, `{}`)
	var seq int64
	if err := db.NewRaw("SELECT MAX(seq) FROM change_log").Scan(ctx, &seq); err != nil {
		t.Fatal(err)
	}
	name := "seq " + strconv.FormatInt(seq, 10)
	wantErr := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Fatalf("%s: error %v, want one naming %s", what, err, name)
		}
	}
	// The row is handed out, marked, rather than skipped or failing the
	// read: a reader sets it aside and goes on.
	bad := func(what string, e changelog.Entry) {
		t.Helper()
		wantErr(what, e.Err)
		if e.Event.OrderID != id || e.Event.OrderVersion != 1 || e.Event.Type != "OrderExploded" || e.Event.Payload != nil {
			t.Fatalf("%s: unreadable entry %+v", what, e.Event)
		}
		if _, err := changelog.Unmarshal(e.Envelope); err == nil || !strings.Contains(string(e.Envelope), `"type":"OrderExploded"`) {
			t.Fatalf("%s: envelope %s (%v)", what, e.Envelope, err)
		}
	}
	entries := readAll(t, db, changelog.Position{}, 10, 2)
	if entries[0].Err != nil || entries[0].Event.ID != good[0].ID {
		t.Fatalf("Read: first entry %+v", entries[0])
	}
	bad("Read", entries[1])
	_, err := changelog.ForOrder(ctx, db, id)
	wantErr("ForOrder", err)
	var all []changelog.Entry
	err = changelog.Each(ctx, db, func(e changelog.Entry) error { all = append(all, e); return nil })
	if err != nil || len(all) != 2 || all[0].Err != nil {
		t.Fatalf("Each: %d entries, %v", len(all), err)
	}
	bad("Each", all[1])
}

func testRepository(t *testing.T, db *bun.DB) {
	ctx := context.Background()
	h := command.New(command.NewRepository(db, command.WithChangeLog(changelog.Hook())))
	cmd := order.PlaceOrder{ID: order.NewID(), Customer: "Ada", Address: "1 Loop Rd", Lines: someLines}
	if _, err := h.PlaceOrder(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	if _, err := h.PlaceOrder(ctx, cmd); err != nil { // a double submit records nothing more
		t.Fatal(err)
	}
	if _, err := h.ShipOrder(ctx, order.ShipOrder{ID: cmd.ID, ExpectedVersion: 1}); err != nil {
		t.Fatal(err)
	}
	hist, err := changelog.ForOrder(ctx, db, cmd.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Type != "OrderPlaced" || hist[1].Type != "OrderShipped" || hist[1].OrderVersion != 2 {
		t.Fatalf("history %+v", hist)
	}

	// A change whose events cannot be recorded is not saved: here the log
	// already holds version 3 of the order.
	insertRaw(t, db, cmd.ID, 3, "OrderDelivered", 1, `{}`)
	if _, err := h.DeliverOrder(ctx, order.DeliverOrder{ID: cmd.ID, ExpectedVersion: 2}); err == nil {
		t.Fatal("deliver saved with its event refused by the change log")
	}
	var status string
	if err := db.NewRaw("SELECT status FROM orders WHERE id = ?", cmd.ID).Scan(ctx, &status); err != nil || status != "shipped" {
		t.Fatalf("order status %q, %v; want shipped", status, err)
	}
}

func testEach(t *testing.T, db *bun.DB) {
	ctx := context.Background()
	const orders, perOrder = 1000, 10
	var want []uuid.UUID
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var batch []order.Event
		for range orders {
			batch = append(batch, life(perOrder)...)
			if len(batch) >= 500 {
				if err := changelog.Append(ctx, tx, batch); err != nil {
					return err
				}
				for _, e := range batch {
					want = append(want, e.ID)
				}
				batch = batch[:0]
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, db); n != orders*perOrder {
		t.Fatalf("Count = %d", n)
	}
	i := 0
	versions := map[order.ID]int{}
	err = changelog.Each(ctx, db, func(en changelog.Entry) error {
		e := en.Event
		if i >= len(want) || e.ID != want[i] {
			t.Fatalf("event %d is %s", i, e.ID)
		}
		if e.OrderVersion != versions[e.OrderID]+1 {
			t.Fatalf("order %s: version %d after %d", e.OrderID, e.OrderVersion, versions[e.OrderID])
		}
		versions[e.OrderID] = e.OrderVersion
		i++
		return nil
	})
	if err != nil || i != len(want) {
		t.Fatalf("Each: %d of %d events, %v", i, len(want), err)
	}
	stop := errors.New("stop")
	calls := 0
	err = changelog.Each(ctx, db, func(changelog.Entry) error {
		if calls++; calls == 1500 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 1500 {
		t.Fatalf("Each after fn's error: %v after %d calls", err, calls)
	}
}

// testConcurrent has 8 writers append 50 events each, one per transaction,
// sleeping inside their transactions, while a reader reads from its last
// position: it must see every event once, with positions only going up.
func testConcurrent(t *testing.T, db *bun.DB) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const writers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			events := life(each)
			for _, e := range events {
				err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
					time.Sleep(time.Duration(rand.IntN(1500)) * time.Microsecond)
					if err := changelog.Append(ctx, tx, []order.Event{e}); err != nil {
						return err
					}
					time.Sleep(time.Duration(rand.IntN(1500)) * time.Microsecond)
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	seen := map[uuid.UUID]bool{}
	versions := map[order.ID]int{}
	var pos changelog.Position
	finished := false
	deadline := time.Now().Add(time.Minute)
	for len(seen) < writers*each {
		select {
		case err := <-errs:
			t.Fatal(err)
		case <-done:
			finished = true
		default:
		}
		got, err := changelog.Read(ctx, db, pos, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range got {
			if !less(pos, e.Position) {
				t.Fatalf("position went from %+v to %+v", pos, e.Position)
			}
			pos = e.Position
			if seen[e.Event.ID] {
				t.Fatalf("event %s read twice", e.Event.ID)
			}
			seen[e.Event.ID] = true
			// Commit order keeps each order's versions in order.
			if e.Event.OrderVersion != versions[e.Event.OrderID]+1 {
				t.Fatalf("order %s: version %d after %d", e.Event.OrderID, e.Event.OrderVersion, versions[e.Event.OrderID])
			}
			versions[e.Event.OrderID] = e.Event.OrderVersion
		}
		if len(got) == 0 {
			if finished && time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	<-done
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if n := count(t, db); n != writers*each || len(seen) != writers*each {
		t.Fatalf("log holds %d events, reader saw %d, want %d", n, len(seen), writers*each)
	}
	if more, err := changelog.Read(ctx, db, pos, 10); err != nil || len(more) != 0 {
		t.Fatalf("read after the end: %d, %v", len(more), err)
	}
}

func headPosition(t *testing.T, db bun.IDB) changelog.Position {
	t.Helper()
	p, err := changelog.HeadPosition(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testHeadPosition: the head is the position of the last entry Read
// hands out, and on PostgreSQL it stays before the entries of a
// transaction still running, even when a later one has committed.
func testHeadPosition(t *testing.T, db *bun.DB) {
	ctx := context.Background()
	if p := headPosition(t, db); p != (changelog.Position{}) {
		t.Fatalf("head of an empty log: %+v", p)
	}
	appendEvents(t, db, life(3))
	all := readAll(t, db, changelog.Position{}, 100, 3)
	if p := headPosition(t, db); p != all[2].Position {
		t.Fatalf("head %+v, last entry read %+v", p, all[2].Position)
	}
	if db.Dialect().Name().String() != "pg" {
		return
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	appendEvents(t, tx, life(1)) // running: its entry may commit later
	appendEvents(t, db, life(1)) // committed after it started
	if p := headPosition(t, db); p != all[2].Position {
		t.Fatalf("head %+v past an entry a running transaction may still commit; want %+v", p, all[2].Position)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	rest := readAll(t, db, all[2].Position, 100, 2)
	if p := headPosition(t, db); p != rest[1].Position {
		t.Fatalf("head %+v, last entry read %+v", p, rest[1].Position)
	}
}
