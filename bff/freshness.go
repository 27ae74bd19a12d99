package bff

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/web"
)

// Freshness: the UI remembers what it just wrote, so that a read side that
// has not caught up yet (stage 3's projector) does not look like a lost
// write. After each command the BFF records the order's new version (and,
// for a new order, what was submitted); a page that reads an older version
// marks the order as syncing, or shows a new order as pending, and opens a
// server-sent events stream (sse.go) that swaps in the read side's view
// once it has that version. In stages 0–2 the read side is the write side:
// the same checks simply find it up to date and nothing is marked.
//
// The registry is per process and in memory: an instance only knows the
// writes made through it, and forgets them after writeTTL or on restart.
// The redirect after a command also carries the version (?v=3), so a reload
// within another instance still knows what to wait for; only a pending
// row's content (customer, total) needs the registry.

const (
	// writeTTL is how long a write is remembered: far longer than the read
	// side normally lags, short enough that the registry stays small.
	writeTTL = 2 * time.Minute
	// maxWrites bounds the registry under load; the writes closest to
	// expiry go first.
	maxWrites = 10000
	// maxWatched bounds the orders one page watches (and one stream polls).
	maxWatched = 100
)

// written is what the UI last wrote to one order.
type written struct {
	version int
	// placed is the order as submitted, for a pending row or page; nil
	// when the order was not placed through this process.
	placed *order.Order
	// status is the order's status at version, when the write that made
	// it says (recordStatus): what actions the newest version allows.
	status order.Status
	// deleted is set when the write at version deleted the order.
	deleted bool
	// queued is set when the write at version was only queued (stage 3's
	// async command bus): it is not applied yet.
	queued  bool
	expires time.Time
}

// writes is the registry of recent UI writes, keyed by order. Versions only
// grow: a late or repeated record of an older version never lowers what a
// page waits for.
type writes struct {
	mu  sync.Mutex
	ttl time.Duration
	max int
	now func() time.Time
	m   map[order.ID]written
}

func newWrites(ttl time.Duration, limit int) *writes {
	return &writes{ttl: ttl, max: limit, now: time.Now, m: map[order.ID]written{}}
}

// forget drops what the UI wrote to order id: the write will never show on
// the read side (a queued command that was rejected).
func (w *writes) forget(id order.ID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, id)
}

// record notes that the UI wrote version of order id; placed, when not nil,
// is the order as submitted.
func (w *writes) record(id order.ID, version int, placed *order.Order) {
	if version <= 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	e, ok := w.m[id]
	if !ok || !now.Before(e.expires) {
		e = written{}
	}
	if version > e.version {
		e.version, e.status, e.queued = version, "", false
	}
	if placed != nil {
		e.placed = placed
	}
	e.expires = now.Add(w.ttl)
	w.m[id] = e
	if len(w.m) > w.max {
		w.prune(now)
	}
}

// prune drops the expired entries and, if still too many, the oldest.
func (w *writes) prune(now time.Time) {
	for id, e := range w.m {
		if !now.Before(e.expires) {
			delete(w.m, id)
		}
	}
	for len(w.m) > w.max {
		var oldest order.ID
		var at time.Time
		for id, e := range w.m {
			if at.IsZero() || e.expires.Before(at) {
				oldest, at = id, e.expires
			}
		}
		delete(w.m, oldest)
	}
}

// recordStatus is record for a command whose outcome's status is known:
// the order is at status in version.
func (w *writes) recordStatus(id order.ID, version int, status order.Status) {
	w.record(id, version, nil)
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.m[id]; ok && e.version == version {
		e.status = status
		w.m[id] = e
	}
}

// recordAck is record for a command's ack: an ack that only queued the
// command (Accepted) marks the version as queued.
func (w *writes) recordAck(id order.ID, ack order.Ack) {
	if !ack.Accepted {
		return
	}
	version := ackVersion(ack)
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.m[id]; ok && e.version == version {
		e.queued = true
		w.m[id] = e
	}
}

// recordDeleted notes that the UI deleted order id, making version.
func (w *writes) recordDeleted(id order.ID, version int) {
	w.record(id, version, nil)
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.m[id]; ok && e.version == version {
		e.deleted = true
		w.m[id] = e
	}
}

// get returns what the UI last wrote to order id, if it is remembered.
func (w *writes) get(id order.ID) (written, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.m[id]
	if !ok || !w.now().Before(e.expires) {
		return written{}, false
	}
	return e, true
}

// version is the version the UI last wrote to order id, 0 if none.
func (w *writes) version(id order.ID) int {
	e, _ := w.get(id)
	return e.version
}

// ackVersion is the version a command's ack says the order will have: a
// command only queued (stage 3's command bus) acks the version before it.
func ackVersion(ack order.Ack) int {
	if ack.Accepted {
		return ack.Version + 1
	}
	return ack.Version
}

// Versioner is a query side that can tell cheaply which version of an order
// it has (stage 3's read model does): found is false for an order it does
// not have or has as deleted. Without it, the BFF reads the order's detail.
type Versioner interface {
	Version(ctx context.Context, id order.ID) (version int, found bool, err error)
}

// readVersion is the version of order id that q shows: 0 when it does not
// show the order; for a deleted order, the version of its deletion when q
// knows it.
func readVersion(ctx context.Context, q Queries, id order.ID) (int, error) {
	if v, ok := q.(Versioner); ok {
		version, _, err := v.Version(ctx, id)
		return version, err
	}
	d, err := q.OrderDetail(ctx, id)
	if order.ErrorCode(err) == order.ENOTFOUND {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return d.Version, nil
}

// watch is one order a page waits for: the read side should show version.
type watch struct {
	id      order.ID
	version int
}

func (w watch) String() string { return w.id.String() + "." + strconv.Itoa(w.version) }

// parseWatch reads "id.version" as written by watch.String.
func parseWatch(s string) (watch, bool) {
	idText, vText, ok := strings.Cut(s, ".")
	if !ok {
		return watch{}, false
	}
	id, err := order.ParseID(idText)
	if err != nil {
		return watch{}, false
	}
	v, err := strconv.Atoi(vText)
	if err != nil || v <= 0 {
		return watch{}, false
	}
	return watch{id: id, version: v}, true
}

// liveEvent is the name of the server-sent event that carries order id's
// fresh view.
func liveEvent(id order.ID) string { return "order-" + id.String() }

// urlVersion reads the ?v= a command's redirect carries.
func urlVersion(s string) int {
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return 0
	}
	return v
}

// freshenList marks the rows the UI wrote more recently than the read side
// shows as syncing, adds the order just placed as a pending row when the
// read side does not have it yet, and sets the stream that updates them.
// placed and v are the ?placed= and ?v= of the redirect after placing.
func (s *Server) freshenList(ctx context.Context, st Queries, vm *web.OrdersList, q order.SummaryQuery, placed string, v int) {
	var watches []watch
	placedID, placedErr := order.ParseID(placed)
	inRows := false
	rows := vm.Rows[:0]
	for i := range vm.Rows {
		r := vm.Rows[i]
		id, err := order.ParseID(r.ID)
		if err != nil {
			rows = append(rows, r)
			continue
		}
		e, _ := s.writes.get(id)
		if e.deleted && e.version > r.Version {
			continue // deleted here; the read side has not seen it yet
		}
		want := e.version
		if placedErr == nil && id == placedID {
			inRows = true
			want = max(want, v)
		}
		if want > r.Version && len(watches) < maxWatched {
			r.Syncing, r.LiveEvent = true, liveEvent(id)
			watches = append(watches, watch{id, want})
		}
		rows = append(rows, r)
	}
	vm.Rows = rows
	if placedErr == nil && !inRows && q.After == "" {
		e, _ := s.writes.get(placedID)
		want := max(e.version, v)
		if want > 0 && pendingMatches(e.placed, q) {
			got, err := readVersion(ctx, st, placedID)
			if err != nil {
				s.log.WarnContext(ctx, "read the version of a placed order", "order", placedID, "err", err)
			} else if got < want {
				vm.Rows = append([]web.OrderRow{pendingRow(placedID, e.placed, want)}, vm.Rows...)
				watches = append(watches, watch{placedID, want})
			}
		}
	}
	if len(watches) == 0 {
		return
	}
	p := url.Values{}
	for _, w := range watches {
		p.Add("w", w.String())
	}
	if placedErr == nil {
		p.Set("placed", placedID.String())
	}
	vm.LiveURL = "/live/orders?" + p.Encode()
}

// pendingMatches says whether a pending order belongs under the list's
// filters; an order known only by its ID shows unless filtered out.
func pendingMatches(p *order.Order, q order.SummaryQuery) bool {
	if q.Status != "" && q.Status != order.Placed {
		return false
	}
	if q.Q == "" {
		return true
	}
	return p != nil && strings.Contains(strings.ToLower(p.Customer), strings.ToLower(strings.TrimSpace(q.Q)))
}

// pendingRow is the row of an order placed but not yet on the read side,
// made from what was submitted. Without that (another instance placed it)
// it shows what is known: the ID. Its link opens a pending page while the
// submission is remembered (pendingDetail), and none otherwise.
func pendingRow(id order.ID, p *order.Order, version int) web.OrderRow {
	r := web.OrderRow{ID: id.String(), ShortID: shortID(id), Customer: "—", Status: string(order.Placed), StatusLabel: order.Placed.Label(), Total: "—"}
	if p != nil {
		r = summaryRow(orderSummary(*p, p.TotalCents()))
	}
	r.Version, r.Pending, r.LiveEvent = version, true, liveEvent(id)
	return r
}

// placedOrder is the order as the command placing it makes it, for its
// pending row and page.
func placedOrder(cmd order.PlaceOrder, at time.Time) *order.Order {
	o, _, err := order.Place(cmd, at)
	if err != nil {
		return nil
	}
	return o
}

// orderSummary is the list row's data of an order.
func orderSummary(o order.Order, totalCents int64) order.Summary {
	return order.Summary{
		ID: o.ID, Customer: o.Customer, Status: o.Status, Currency: o.Currency, LineCount: len(o.Lines),
		TotalCents: totalCents, Version: o.Version, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
	}
}

// pendingDetail is the page of an order placed through this process that
// the read side does not have yet, made from what was submitted; ok is
// false when there is no such order to show. It offers no actions until
// the read side has the order: the live update brings them.
func (s *Server) pendingDetail(id order.ID, stage int) (web.OrderDetail, bool) {
	e, ok := s.writes.get(id)
	if !ok || e.placed == nil {
		return web.OrderDetail{}, false
	}
	v := detailView(order.Detail{Order: *e.placed, TotalCents: e.placed.TotalCents()}, stage)
	v.CanChangeLines, v.CanShip, v.CanDeliver, v.CanCancel, v.CanDelete = false, false, false, false, false
	v.Source = "as submitted · stage " + strconv.Itoa(stage) + " · v" + strconv.Itoa(e.placed.Version)
	v.Syncing = "Saved as v" + strconv.Itoa(e.version) + " — the read side does not have this order yet; this page updates when it catches up."
	if e.queued {
		v.Syncing = "Queued — the order is placed when the command handler applies the command; this page updates when the read side has it."
	}
	v.LiveURL = "/live/orders/" + id.String() + "?v=" + strconv.Itoa(e.version)
	v.LiveEvent = liveEvent(id)
	return v, true
}

// freshenDetail marks an order page whose read is older than what the UI
// wrote (the registry's version or the redirect's ?v=) as syncing, with the
// stream that replaces it when the read side catches up.
//
// queued says the redirect came from a command that was only queued.
func (s *Server) freshenDetail(v *web.OrderDetail, d order.Detail, urlV int, queued bool) {
	want := max(s.writes.version(d.ID), urlV)
	if want <= d.Version {
		return
	}
	side := string(d.Source)
	if side == "" {
		side = "read side"
	}
	v.Syncing = "Saved as v" + strconv.Itoa(want) + " — the " + side + " still shows v" + strconv.Itoa(d.Version) +
		"; this page updates when it catches up."
	if e, ok := s.writes.get(d.ID); ok && e.version == want && e.queued || queued {
		v.Syncing = "Queued — the change becomes v" + strconv.Itoa(want) + " when the command handler applies it; the " + side +
			" still shows v" + strconv.Itoa(d.Version) + ". This page updates when it has v" + strconv.Itoa(want) + "."
	}
	// The actions are the newest version's: those its status allows when
	// this process made it and knows the status, none otherwise (the live
	// update brings them). The read's would act on a version that is gone.
	can := order.Can{}
	if e, ok := s.writes.get(d.ID); ok && e.version == want && e.status != "" {
		can = order.Allowed(e.status)
	}
	v.CanChangeLines, v.CanShip, v.CanDeliver, v.CanCancel, v.CanDelete = can.ChangeLines, can.Ship, can.Deliver, can.Cancel, can.Delete
	v.ExpectedVersion = want
	v.LiveURL = "/live/orders/" + d.ID.String() + "?v=" + strconv.Itoa(want)
	v.LiveEvent = liveEvent(d.ID)
}
