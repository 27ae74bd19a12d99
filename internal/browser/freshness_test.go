package browser

import (
	"context"
	"database/sql"
	"net/http"
	"regexp"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/uptrace/bun/driver/sqliteshim"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/order"
)

// TestReadSideLagShowsPendingAndSyncingLive makes stage 3's read side lag
// for real: a separate connection holds the write lock of the read
// database (read.db), so the projector cannot apply, while reads go on
// (WAL). An order placed through the form then shows as a pending row, and
// a ship as a syncing banner; when the lock goes, both turn into what the
// read side projected, over server-sent events, without a reload.
func TestReadSideLagShowsPendingAndSyncingLive(t *testing.T) {
	needBrowser(t)
	if !slices.Contains(stagesUnderTest(t), 3) {
		t.Skip("stage 3 is not under test")
	}
	base, dir := startAppWithDir(t, 3)
	tb := newTab(t, base, 3)
	readDB := app.Config{DataDir: dir}.ReadPath()

	tb.open("/orders/new")
	id := tb.value(formID)
	if _, err := order.ParseID(id); err != nil {
		t.Fatalf("the form's hidden id %q is not an order ID: %v", id, err)
	}
	tb.typeInto("#customer", "Lagging Lovelace")
	tb.typeInto("#address", "1 Eventual Road")
	tb.fillLine(1, "TEA-01", "Green tea", "2", "12.50")

	lock := lockSQLite(t, readDB)
	// A double submit: the same form posted once more behind the user's
	// back (a second click, a resent request) must make one order.
	status, err := chromedp.Run(tb.ctx, chromedp.Evaluate[int](`(async () => {
		const f = document.querySelector("form[data-testid=order-form]");
		const r = await fetch(f.action, {method: "POST", body: new URLSearchParams(new FormData(f))});
		return r.status;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("re-post the form: %v", err)
	}
	if status != http.StatusOK {
		t.Fatalf("re-posting the form answers %d (after its redirect), want 200", status)
	}
	tb.click(`[data-testid=submit]`)
	tb.waitLocation(`^/orders\?`)
	tb.waitJS("the new order's row is listed", `document.querySelector(`+jsString(rowSel(id))+`)`)
	tb.setMarker()
	if n := tb.count(`[data-testid=order-row]`); n != 1 {
		t.Errorf("after submitting the same form twice the list has %d rows, want 1", n)
	}
	if got := tb.count(rowSel(id) + ` [data-testid=pending-badge]`); got != 1 {
		t.Fatalf("the new order's row is not pending while the read side is locked: %s", tb.pageState())
	}
	tb.expectText(rowSel(id)+` [data-testid=customer]`, "Lagging Lovelace")
	tb.expectText(rowSel(id)+` [data-testid=version]`, "v1")
	tb.expectText(`[data-testid=source]`, "read from read model · stage 3")
	if loc := tb.location(); !regexp.MustCompile(`[?&]v=1(&|$)`).MatchString(loc) {
		t.Errorf("the location %s does not carry the version written", loc)
	}
	tb.waitJS("the list connected to its live updates", `document.querySelector("[sse-connect]")`)
	tb.shot("01-pending")

	lock.release()
	tb.waitJS("the pending row turned into the projected one",
		`(() => { const r = document.querySelector(`+jsString(rowSel(id))+`);
			return r && !r.querySelector("[data-testid=pending-badge]") && r.querySelector("a[data-testid=order-link]"); })()`)
	tb.checkNoReload("after the read side caught up")
	if n := tb.count(`[data-testid=order-row]`); n != 1 {
		t.Errorf("after catching up the list has %d rows, want 1", n)
	}
	tb.expectText(rowSel(id)+` [data-testid=status-badge]`, "Placed")
	tb.expectText(rowSel(id)+` [data-testid=version]`, "v1")
	if tb.count(rowSel(id)+` [data-testid=syncing]`) != 0 {
		t.Error("the projected row is still marked syncing")
	}
	tb.shot("02-projected")

	// Ship while the read side is locked again: the order's page says what
	// was saved and what the read side still shows.
	tb.click(rowSel(id) + ` a[data-testid=order-link]`)
	tb.waitJS("the order's page shows", `document.querySelector('[data-testid=order-detail][data-order-id="`+id+`"]')`)
	tb.waitText(detailBadge, "Placed")
	lock = lockSQLite(t, readDB)
	tb.click(`[data-testid=action-ship]`)
	tb.waitLocation(`^/orders/` + id + `\?done=ship&v=2$`)
	tb.waitJS("the syncing banner shows", `document.querySelector("[data-testid=syncing-banner]")`)
	tb.setMarker()
	tb.expectText(`[data-testid=syncing-banner]`, "Saved as v2 — the read model still shows v1; this page updates when it catches up.")
	tb.expectText(detailBadge, "Placed")
	tb.expectText(`[data-testid=order-detail] [data-testid=source]`, "read model · stage 3 · v1")
	tb.shot("03-syncing")

	lock.release()
	tb.waitText(detailBadge, "Shipped")
	tb.checkNoReload("after the read side caught up with the ship")
	if tb.count(`[data-testid=syncing-banner]`) != 0 {
		t.Error("the syncing banner stays after the read side caught up")
	}
	tb.expectText(`[data-testid=order-detail] [data-testid=source]`, "read model · stage 3 · v2")
	if tb.count(`[data-testid=action-deliver]`) != 1 {
		t.Error("the shipped order does not offer Deliver")
	}
	tb.shot("04-shipped")
}

// TestUpToDateReadsOpenNoLiveConnection checks, in every stage under test,
// that a read side that is up to date (always so in stages 0–2; in stage 3
// once the projector has applied) marks nothing and opens no stream.
func TestUpToDateReadsOpenNoLiveConnection(t *testing.T) {
	eachStage(t, func(t *testing.T, tb *tab) {
		id := placeViaAPI(t, tb.base, tb.stage, apiOrder{Customer: "Settled Sue", Lines: []apiLine{{SKU: "S-1", Name: "Thing", Quantity: 1, UnitPriceCents: 100}}})
		tb.open("/orders?done=placed&placed=" + id + "&v=1")
		tb.expectText(rowSel(id)+` [data-testid=customer]`, "Settled Sue")
		if n := tb.count(`[sse-connect], [data-testid=pending-badge], [data-testid=syncing]`); n != 0 {
			t.Errorf("an up-to-date list has %d live or freshness marks, want none", n)
		}
		tb.open("/orders/" + id + "?v=1")
		if n := tb.count(`[sse-connect], [data-testid=syncing-banner]`); n != 0 {
			t.Errorf("an up-to-date order page has %d live or freshness marks, want none", n)
		}
	})
}

// sqliteLock holds the write lock of a SQLite database from its own
// connection.
type sqliteLock struct {
	t        *testing.T
	db       *sql.DB
	conn     *sql.Conn
	released atomic.Bool
}

// lockSQLite takes the write lock of the database at path (BEGIN
// EXCLUSIVE, which in WAL mode stops writers and lets readers go on) and
// keeps it until release or the end of the test. Hold it for seconds only:
// a writer waits for it up to its busy timeout (10 s) before failing.
func lockSQLite(t *testing.T, path string) *sqliteLock {
	t.Helper()
	db, err := sql.Open(sqliteshim.ShimName, "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		conn.Close()
		db.Close()
		t.Fatalf("lock %s: %v", path, err)
	}
	l := &sqliteLock{t: t, db: db, conn: conn}
	t.Cleanup(l.release)
	return l
}

// release rolls the empty transaction back, which frees the lock.
func (l *sqliteLock) release() {
	if l.released.Swap(true) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		l.t.Errorf("release the lock: %v", err)
	}
	l.conn.Close()
	l.db.Close()
}
