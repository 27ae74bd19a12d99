package stage3_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/bff"
	"github.com/staircase/staircase/internal/messaging/natstest"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage3"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/command"
	"github.com/staircase/staircase/stages/stage3/projection"
	"github.com/staircase/staircase/stages/stage3/rebuild"
)

// Stage 3 is what the BFF rebuilds through.
var _ bff.Rebuilder = (*stage3.Stage)(nil)

// world is stage 3 running on its own databases and bus, with stage 2's
// write side on the same database of record: stage 3's command handlers
// without the change log, which change orders without events as stages
// 0–2 do.
type world struct {
	write, read *bun.DB
	s3          *stage3.Stage
	s2          *command.Handlers
	// versions is what every command acknowledged: the version each order
	// must reach on the read side.
	mu       sync.Mutex
	versions map[order.ID]int
}

// databases opens a migrated write and read database on backend b.
func databases(t *testing.T, b sqltest.Backend) (write, read *bun.DB) {
	return sqltest.Open(t, b, migrations.Write), sqltest.Open(t, b, migrations.Read)
}

// bus returns a NATS connection and a namespace: the machine's server when
// STAIRCASE_TEST_NATS is set (streams deleted at the end), else an embedded
// one.
func bus(t *testing.T) (*nats.Conn, string) {
	t.Helper()
	return natstest.Connect(t)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newWorld(t *testing.T, b sqltest.Backend) *world {
	t.Helper()
	w := &world{versions: map[order.ID]int{}}
	w.write, w.read = databases(t, b)
	nc, ns := bus(t)
	s, err := stage3.New(stage3.Config{Write: w.write, Read: w.read, NATS: nc, Namespace: ns, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Registered after the databases' and the bus's clean-ups, so it runs
	// before them.
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Logf("close stage 3: %v", err)
		}
	})
	w.s3, w.s2 = s, withoutEvents(w.write)
	return w
}

// withoutEvents returns command handlers on the database of record that
// append nothing to the change log, as stages 0–2 do.
func withoutEvents(write *bun.DB) *command.Handlers {
	return command.New(command.NewRepository(write))
}

// commands is a stage's command side.
type commands interface {
	PlaceOrder(ctx context.Context, cmd order.PlaceOrder) (order.Ack, error)
	ChangeOrderLines(ctx context.Context, cmd order.ChangeOrderLines) (order.Ack, error)
	ShipOrder(ctx context.Context, cmd order.ShipOrder) (order.Ack, error)
	DeliverOrder(ctx context.Context, cmd order.DeliverOrder) (order.Ack, error)
	CancelOrder(ctx context.Context, cmd order.CancelOrder) (order.Ack, error)
	DeleteOrder(ctx context.Context, cmd order.DeleteOrder) (order.Ack, error)
}

func (w *world) ack(t testing.TB, id order.ID, ack order.Ack, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("command on order %s: %v", id, err)
	}
	w.mu.Lock()
	w.versions[id] = ack.Version
	w.mu.Unlock()
}

func (w *world) place(t testing.TB, c commands, customer string) order.ID {
	t.Helper()
	id := order.NewID()
	ack, err := c.PlaceOrder(context.Background(), order.PlaceOrder{
		ID: id, Customer: customer, Address: "1 Main St", Currency: "EUR",
		Lines: []order.Line{{SKU: "TEA-01", Name: "Green tea", Quantity: 2, UnitPriceCents: 250}},
	})
	w.ack(t, id, ack, err)
	return id
}

// waitProjected waits until the read side has every acknowledged version.
func (w *world) waitProjected(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	rm := projection.NewReadModel(w.read)
	deadline := time.Now().Add(60 * time.Second)
	for {
		w.mu.Lock()
		want := make(map[order.ID]int, len(w.versions))
		for id, v := range w.versions {
			want[id] = v
		}
		w.mu.Unlock()
		behind := 0
		var example string
		for id, v := range want {
			got, _, err := rm.Version(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got < v {
				behind++
				example = fmt.Sprintf("order %s at v%d, want v%d", id, got, v)
			}
		}
		if behind == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the read side lacks %d orders' latest versions, e.g. %s", behind, example)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dump lists the live read tables' rows, history included, one string per
// row in a fixed order.
func dump(t testing.TB, db *bun.DB) []string {
	t.Helper()
	ctx := context.Background()
	var views []struct {
		ID         uuid.UUID `bun:"id"`
		Customer   string    `bun:"customer"`
		Address    string    `bun:"address"`
		Currency   string    `bun:"currency"`
		Status     string    `bun:"status"`
		Version    int       `bun:"version"`
		LineCount  int       `bun:"line_count"`
		TotalCents int64     `bun:"total_cents"`
		Lines      string    `bun:"lines"`
		CreatedAt  time.Time `bun:"created_at"`
		UpdatedAt  time.Time `bun:"updated_at"`
		Deleted    bool      `bun:"deleted"`
	}
	if err := db.NewRaw("SELECT id, customer, address, currency, status, version, line_count, total_cents, lines, created_at, updated_at, deleted FROM order_views ORDER BY id").
		Scan(ctx, &views); err != nil {
		t.Fatal(err)
	}
	var hist []struct {
		OrderID    uuid.UUID `bun:"order_id"`
		Version    int       `bun:"version"`
		Type       string    `bun:"type"`
		OccurredAt time.Time `bun:"occurred_at"`
		Text       string    `bun:"text"`
	}
	if err := db.NewRaw("SELECT order_id, version, type, occurred_at, text FROM order_history ORDER BY order_id, version").
		Scan(ctx, &hist); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range views {
		updated := v.UpdatedAt.UTC().Format(time.RFC3339Nano)
		out = append(out, fmt.Sprintf("order %s %q %q %s %s v%d lines=%d total=%d %s created=%s updated=%s deleted=%v",
			v.ID, v.Customer, v.Address, v.Currency, v.Status, v.Version, v.LineCount, v.TotalCents, normalizeJSON(v.Lines),
			v.CreatedAt.UTC().Format(time.RFC3339Nano), updated, v.Deleted))
	}
	for _, h := range hist {
		out = append(out, fmt.Sprintf("history %s v%d %s at=%s %q", h.OrderID, h.Version, h.Type, h.OccurredAt.UTC().Format(time.RFC3339Nano), h.Text))
	}
	return out
}

// normalizeJSON drops the spaces PostgreSQL's JSONB puts in.
func normalizeJSON(s string) string { return strings.NewReplacer(" ", "", "\n", "").Replace(s) }

// diff fails with the rows that differ.
func diff(t testing.TB, what string, want, got []string) {
	t.Helper()
	w, g := map[string]bool{}, map[string]bool{}
	for _, s := range want {
		w[s] = true
	}
	for _, s := range got {
		g[s] = true
	}
	var lines []string
	for _, s := range want {
		if !g[s] {
			lines = append(lines, "- "+s)
		}
	}
	for _, s := range got {
		if !w[s] {
			lines = append(lines, "+ "+s)
		}
	}
	if len(lines) > 0 {
		sort.Strings(lines)
		t.Fatalf("%s: %d rows differ (- incremental, + rebuilt):\n%s", what, len(lines), strings.Join(lines, "\n"))
	}
}

// progressLog records a rebuild's progress reports.
type progressLog struct {
	mu      sync.Mutex
	reports []rebuild.Progress
}

func (l *progressLog) add(p rebuild.Progress) {
	l.mu.Lock()
	l.reports = append(l.reports, p)
	l.mu.Unlock()
}

func (l *progressLog) check(t testing.TB, events int64) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[rebuild.Phase]bool{}
	order := []rebuild.Phase{rebuild.PhaseReplaying, rebuild.PhaseSyncing, rebuild.PhaseSwapping, rebuild.PhaseDone}
	rank := map[rebuild.Phase]int{}
	for i, p := range order {
		rank[p] = i
	}
	last := 0
	for _, p := range l.reports {
		if rank[p.Phase] < last {
			t.Fatalf("phase %q reported after a later phase", p.Phase)
		}
		last = rank[p.Phase]
		seen[p.Phase] = true
		if p.Done > p.Total {
			t.Fatalf("progress %d/%d in %s", p.Done, p.Total, p.Phase)
		}
	}
	for _, p := range order {
		if !seen[p] {
			t.Fatalf("phase %q never reported", p)
		}
	}
	end := l.reports[len(l.reports)-1]
	if end.Phase != rebuild.PhaseDone || end.Events < events || end.Fraction() != 1 {
		t.Fatalf("last report %+v, want done with at least %d events", end, events)
	}
}

func TestRebuild(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			tests := []struct {
				name string
				run  func(t *testing.T, b sqltest.Backend)
			}{
				{"rebuilt read model equals the incrementally projected one", testRebuildEqualsProjection},
				{"orders placed during a rebuild are all visible after it", testRebuildUnderLoad},
				{"entering stage 3 rebuilds a read database that is behind", testEnterRebuildsWhenBehind},
				{"a second rebuild at the same time is refused", testOneRebuildAtATime},
				{"version 1 events are upcast when rebuilding", testRebuildUpcastsV1},
				{"a row it cannot read and an event the rules refuse are parked, and the rebuild finishes", testRebuildParksWhatItCannotApply},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, b) })
			}
		})
	}
}

// history makes orders with every kind of life: through stage 3 (events),
// through stage 2 (no events) and both, deleted ones included. It returns
// the orders whose change log has a gap: changed in stage 2, then again in
// stage 3.
func (w *world) history(t *testing.T) (gaps []order.ID) {
	ctx := context.Background()
	s3, s2 := w.s3, w.s2
	var ids []order.ID
	for i := range 12 {
		ids = append(ids, w.place(t, s3, fmt.Sprintf("Customer %02d", i)))
	}
	// Every transition, through stage 3.
	ack, err := s3.ShipOrder(ctx, order.ShipOrder{ID: ids[0]})
	w.ack(t, ids[0], ack, err)
	ack, err = s3.DeliverOrder(ctx, order.DeliverOrder{ID: ids[0]})
	w.ack(t, ids[0], ack, err)
	ack, err = s3.CancelOrder(ctx, order.CancelOrder{ID: ids[1], Reason: "changed my mind"})
	w.ack(t, ids[1], ack, err)
	ack, err = s3.ChangeOrderLines(ctx, order.ChangeOrderLines{ID: ids[2], Lines: []order.Line{
		{SKU: "MUG-02", Name: "Mug", Quantity: 3, UnitPriceCents: 1200}, {SKU: "TEA-01", Name: "Green tea", Quantity: 1, UnitPriceCents: 250}}})
	w.ack(t, ids[2], ack, err)
	ack, err = s3.DeleteOrder(ctx, order.DeleteOrder{ID: ids[3]})
	w.ack(t, ids[3], ack, err)
	ack, err = s3.CancelOrder(ctx, order.CancelOrder{ID: ids[4]})
	w.ack(t, ids[4], ack, err)
	ack, err = s3.DeleteOrder(ctx, order.DeleteOrder{ID: ids[4]})
	w.ack(t, ids[4], ack, err)
	w.waitProjected(t)

	// Stage 2 changes orders without events; entering stage 3 again syncs
	// them.
	ack, err = s2.ShipOrder(ctx, order.ShipOrder{ID: ids[5]})
	w.ack(t, ids[5], ack, err)
	ack, err = s2.ChangeOrderLines(ctx, order.ChangeOrderLines{ID: ids[6], Lines: []order.Line{{SKU: "X", Name: "Kettle", Quantity: 1, UnitPriceCents: 3999}}})
	w.ack(t, ids[6], ack, err)
	w.place(t, s2, "Placed In Stage 2")
	if err := s3.Enter(ctx, nil); err != nil {
		t.Fatal(err)
	}
	w.waitProjected(t)
	// Then stage 3 goes on with an order changed in stage 2.
	ack, err = s3.ShipOrder(ctx, order.ShipOrder{ID: ids[6]})
	w.ack(t, ids[6], ack, err)
	w.waitProjected(t)
	return []order.ID{ids[6]}
}

// sameReadModel compares the read tables' dumps. An order whose change log
// has a gap is the exception for its history: the projector synced it when
// stage 3 was entered (a Synced row at the version then) and applied the
// later events; a rebuild cannot know that in-between state, so it syncs
// the order to its current version at once. Its row must be the same, and
// its history the same up to the gap, ending in a Synced row at the current
// version.
func sameReadModel(t testing.TB, want, got []string, gaps []order.ID) {
	t.Helper()
	split := func(rows []string) (common []string, gapped map[order.ID][]string) {
		gapped = map[order.ID][]string{}
		for _, r := range rows {
			matched := false
			for _, id := range gaps {
				if strings.HasPrefix(r, "history "+id.String()+" ") {
					gapped[id] = append(gapped[id], r)
					matched = true
				}
			}
			if !matched {
				common = append(common, r)
			}
		}
		return common, gapped
	}
	wantCommon, wantGapped := split(want)
	gotCommon, gotGapped := split(got)
	diff(t, "read tables", wantCommon, gotCommon)
	for _, id := range gaps {
		w, g := wantGapped[id], gotGapped[id]
		if len(w) < 2 || len(g) < 2 || w[0] != g[0] {
			t.Fatalf("history of order %s with a gap:\nincremental %q\nrebuilt %q", id, w, g)
		}
		if last := g[len(g)-1]; !strings.Contains(last, " Synced ") || !strings.HasPrefix(last, strings.Join(strings.Fields(w[len(w)-1])[:3], " ")+" ") {
			t.Fatalf("history of order %s with a gap ends in %q, want a Synced row at the version of %q", id, last, w[len(w)-1])
		}
	}
}

func testRebuildEqualsProjection(t *testing.T, b sqltest.Backend) {
	ctx := context.Background()
	w := newWorld(t, b)
	gaps := w.history(t)
	before := dump(t, w.read)

	var log progressLog
	if err := w.s3.Rebuild(ctx, log.add); err != nil {
		t.Fatal(err)
	}
	events, err := changelog.Count(ctx, w.write)
	if err != nil {
		t.Fatal(err)
	}
	log.check(t, events)
	sameReadModel(t, before, dump(t, w.read), gaps)

	// The rebuilt tables are the live ones: the projector goes on with them.
	id := w.place(t, w.s3, "After The Rebuild")
	w.waitProjected(t)
	if d, err := w.s3.OrderDetail(ctx, id); err != nil || d.Version != 1 {
		t.Fatalf("order placed after the rebuild: %+v, %v", d, err)
	}
}

func testRebuildUnderLoad(t *testing.T, b sqltest.Backend) {
	ctx := context.Background()
	w := newWorld(t, b)
	for i := range 20 {
		w.place(t, w.s3, fmt.Sprintf("Before %02d", i))
	}
	w.waitProjected(t)

	stop := make(chan struct{})
	placing := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			w.place(t, w.s3, fmt.Sprintf("During %03d", i))
			if i == 0 {
				close(placing)
			}
		}
	}()
	<-placing
	readErrs := 0
	var phase rebuild.Phase
	err := w.s3.Rebuild(ctx, func(p rebuild.Progress) {
		// Reads keep being served from the live tables meanwhile.
		if _, err := w.s3.OrderSummaries(ctx, order.SummaryQuery{}); err != nil {
			readErrs++
			t.Errorf("read during %s: %v", p.Phase, err)
		}
		// Besides the goroutine's, an order placed at the start of each
		// phase, whatever the timing.
		if p.Phase != phase && p.Phase != rebuild.PhaseDone {
			phase = p.Phase
			w.place(t, w.s3, "At "+string(p.Phase))
		}
	})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if readErrs > 0 {
		t.Fatalf("%d reads failed during the rebuild", readErrs)
	}
	// Every order placed before, during and after is visible.
	w.place(t, w.s3, "After")
	w.waitProjected(t)
	page, err := w.s3.OrderSummaries(ctx, order.SummaryQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	total := len(page.Orders)
	for page.Next != "" {
		if page, err = w.s3.OrderSummaries(ctx, order.SummaryQuery{Limit: 100, After: page.Next}); err != nil {
			t.Fatal(err)
		}
		total += len(page.Orders)
	}
	if total != len(w.versions) {
		t.Fatalf("the read model lists %d orders, %d were placed", total, len(w.versions))
	}
}

func testEnterRebuildsWhenBehind(t *testing.T, b sqltest.Backend) {
	ctx := context.Background()
	w := newWorld(t, b)
	gaps := w.history(t)
	want := dump(t, w.read)
	behind, err := w.s3.Behind(ctx)
	if err != nil || behind {
		t.Fatalf("Behind with every event projected = %v, %v", behind, err)
	}
	// The read database loses its tables' rows (a new or dropped one).
	for _, table := range []string{"order_history", "order_views"} {
		if _, err := w.read.NewRaw("DELETE FROM ?", bun.Ident(table)).Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if behind, err = w.s3.Behind(ctx); err != nil || !behind {
		t.Fatalf("Behind with an empty read database = %v, %v", behind, err)
	}
	var reports []int64
	if err := w.s3.Enter(ctx, func(done, total int64) {
		if done > total {
			t.Errorf("progress %d/%d", done, total)
		}
		reports = append(reports, done)
	}); err != nil {
		t.Fatal(err)
	}
	if len(reports) == 0 || reports[len(reports)-1] != 1000 {
		t.Fatalf("progress reports %v, want the last at 1000/1000", reports)
	}
	// Rebuilt from the log, not merely synced: the history is back.
	sameReadModel(t, want, dump(t, w.read), gaps)
}

func testOneRebuildAtATime(t *testing.T, b sqltest.Backend) {
	ctx := context.Background()
	write, read := databases(t, b)
	started, release := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		var once sync.Once
		errc <- rebuild.Rebuild(ctx, write, read, nil, func(rebuild.Progress) {
			once.Do(func() {
				close(started)
				<-release
			})
		})
	}()
	<-started
	err := rebuild.Rebuild(ctx, write, read, nil, nil)
	close(release)
	if !errors.Is(err, rebuild.ErrRebuildRunning) || order.ErrorCode(err) != order.ECONFLICT {
		t.Fatalf("second rebuild: %v, want ErrRebuildRunning", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("first rebuild: %v", err)
	}
	if err := rebuild.Rebuild(ctx, write, read, nil, nil); err != nil {
		t.Fatalf("rebuild after the first one ended: %v", err)
	}
}

// insertRaw stores a change log row as an older version of the app wrote it.
func insertRaw(t testing.TB, db bun.IDB, id order.ID, version int, typ string, schema int, payload string, at time.Time) {
	t.Helper()
	_, err := db.NewRaw("INSERT INTO change_log (event_id, order_id, order_version, type, schema_version, payload, occurred_at)"+
		" VALUES (?, ?, ?, ?, ?, ?, ?)", uuid.Must(uuid.NewV7()), id, version, typ, schema, payload, at).Exec(context.Background())
	if err != nil {
		t.Fatal(err)
	}
}

func testRebuildUpcastsV1(t *testing.T, b sqltest.Backend) {
	ctx := context.Background()
	write, read := databases(t, b)
	// The database of record has the orders (written by stage 2, which
	// records no events); the change log has them as the app wrote them
	// before OrderPlaced v2 added the currency.
	s2 := withoutEvents(write)
	at := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	lines := `[{"sku":"BOOK-1","name":"Notes","quantity":2,"unit_price_cents":4200},{"sku":"PEN-1","name":"Pen","quantity":3,"unit_price_cents":150}]`
	var a, c order.ID
	for i, id := range []*order.ID{&a, &c} {
		*id = order.NewID()
		customer := fmt.Sprintf("Old Customer %d", i)
		if _, err := s2.PlaceOrder(ctx, order.PlaceOrder{ID: *id, Customer: customer, Address: "1 Main St", Lines: []order.Line{
			{SKU: "BOOK-1", Name: "Notes", Quantity: 2, UnitPriceCents: 4200}, {SKU: "PEN-1", Name: "Pen", Quantity: 3, UnitPriceCents: 150}}}); err != nil {
			t.Fatal(err)
		}
		insertRaw(t, write, *id, 1, "OrderPlaced", 1, `{"customer":"`+customer+`","address":"1 Main St","lines":`+lines+`}`, at)
	}
	// Later events of the current schema.
	if _, err := s2.ShipOrder(ctx, order.ShipOrder{ID: a}); err != nil {
		t.Fatal(err)
	}
	insertRaw(t, write, a, 2, "OrderShipped", 1, `{}`, at.Add(time.Hour))
	var log progressLog
	if err := rebuild.Rebuild(ctx, write, read, nil, log.add); err != nil {
		t.Fatal(err)
	}
	log.check(t, 3)
	if end := log.reports[len(log.reports)-1]; end.Events != 3 || end.Skipped != 0 {
		t.Fatalf("rebuild replayed %d events and skipped %d, want 3 and 0", end.Events, end.Skipped)
	}
	rm := projection.NewReadModel(read)
	for _, tc := range []struct {
		id      order.ID
		status  order.Status
		version int
	}{{a, order.Shipped, 2}, {c, order.Placed, 1}} {
		d, err := rm.OrderDetail(ctx, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Currency != "USD" || d.TotalCents != 2*4200+3*150 || d.Status != tc.status || d.Version != tc.version {
			t.Fatalf("order %s rebuilt as %s %d %s v%d", tc.id, d.Currency, d.TotalCents, d.Status, d.Version)
		}
		// From the events, not synced from the database of record.
		if len(d.History) != tc.version || d.History[0].Type != "OrderPlaced" || !d.History[0].At.Equal(at) ||
			d.History[0].Text != "Placed with 2 lines, $88.50" {
			t.Fatalf("history of order %s: %+v", tc.id, d.History)
		}
	}
}
