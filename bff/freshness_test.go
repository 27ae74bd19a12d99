package bff

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/order"
)

// lagStage is a stage whose read side shows what the test lets through:
// commands change the write side at once, reads see an order only as of
// the last catchUp. withVersion decides whether it offers the cheap
// Version check (stage 3's read model does) or leaves the BFF to read the
// detail.
type lagStage struct {
	fakeStage
	source order.Source

	mu    sync.Mutex
	write map[order.ID]order.Order
	read  map[order.ID]order.Order
	// reads counts the read side's answers, to wait for a stream's polls.
	reads int
	// rejection is what a rejected queued command left on its order.
	rejection string
}

func newLagStage() *lagStage {
	return &lagStage{source: order.ReadModel, write: map[order.ID]order.Order{}, read: map[order.ID]order.Order{}}
}

// versionedLagStage adds the cheap Version check.
type versionedLagStage struct{ *lagStage }

func (s versionedLagStage) Version(_ context.Context, id order.ID) (int, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	o, ok := s.read[id]
	return o.Version, ok, nil
}

// catchUp lets the read side see order id as the write side has it.
func (s *lagStage) catchUp(id order.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.read[id] = s.write[id]
}

func (s *lagStage) readCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

func (s *lagStage) PlaceOrder(_ context.Context, cmd order.PlaceOrder) (order.Ack, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.write[cmd.ID]; ok {
		// The same ID again: the same order (a double submit).
		return order.Ack{ID: o.ID, Version: o.Version}, nil
	}
	o, _, err := order.Place(cmd, time.Now())
	if err != nil {
		return order.Ack{}, err
	}
	s.write[o.ID] = *o
	return order.Ack{ID: o.ID, Version: o.Version}, nil
}

func (s *lagStage) ShipOrder(_ context.Context, cmd order.ShipOrder) (order.Ack, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.write[cmd.ID]
	if !ok {
		return order.Ack{}, order.NotFound(cmd.ID)
	}
	if _, err := o.Ship(cmd, time.Now()); err != nil {
		return order.Ack{}, err
	}
	s.write[o.ID] = o
	return order.Ack{ID: o.ID, Version: o.Version}, nil
}

func (s *lagStage) OrderSummaries(_ context.Context, q order.SummaryQuery) (order.SummaryPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	page := order.SummaryPage{Source: s.source}
	for _, o := range s.read {
		page.Orders = append(page.Orders, order.Summary{
			ID: o.ID, Customer: o.Customer, Status: o.Status, Currency: o.Currency, LineCount: len(o.Lines),
			TotalCents: o.TotalCents(), Version: o.Version, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
		})
	}
	sort.Slice(page.Orders, func(i, j int) bool { return page.Orders[i].ID.String() > page.Orders[j].ID.String() })
	return page, nil
}

func (s *lagStage) OrderDetail(_ context.Context, id order.ID) (order.Detail, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	o, ok := s.read[id]
	if !ok {
		return order.Detail{}, order.NotFound(id)
	}
	return order.Detail{Order: o, TotalCents: o.TotalCents(), Source: s.source, Rejection: s.rejection}, nil
}

// newLagServer serves st as the only stage (number 3).
func newLagServer(t *testing.T, st Stage) *Server {
	t.Helper()
	sw, err := NewSwitch(map[int]Stage{3: st}, 3)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(testConfig(Config{Switch: sw, Descriptions: Infos, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testPlace(t *testing.T, st *lagStage, customer string) order.ID {
	t.Helper()
	id := order.NewID()
	if _, err := st.PlaceOrder(context.Background(), order.PlaceOrder{
		ID: id, Customer: customer, Address: "1 Lag Lane",
		Lines: []order.Line{{SKU: "SKU-1", Name: "Widget", Quantity: 2, UnitPriceCents: 1250}},
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestWriteRegistry(t *testing.T) {
	clock := time.Unix(1_700_000_000, 0)
	w := newWrites(time.Minute, 3)
	w.now = func() time.Time { return clock }
	a, b := order.NewID(), order.NewID()

	t.Run("versions only grow", func(t *testing.T) {
		w.record(a, 3, &order.Order{ID: a, Customer: "Ada"})
		w.record(a, 2, nil) // a late ack of an older command
		e, ok := w.get(a)
		if !ok || e.version != 3 {
			t.Fatalf("after recording v3 then v2: %+v, %v; want version 3", e, ok)
		}
		if e.placed == nil || e.placed.Customer != "Ada" {
			t.Errorf("a later record without content dropped what was submitted: %+v", e.placed)
		}
		w.record(a, 4, nil)
		if got := w.version(a); got != 4 {
			t.Errorf("after v4: version %d", got)
		}
		w.record(b, 0, nil)
		if _, ok := w.get(b); ok {
			t.Error("version 0 (no version known) was recorded")
		}
	})

	t.Run("forgets a write after its time to live", func(t *testing.T) {
		w.record(b, 1, nil)
		clock = clock.Add(59 * time.Second)
		if w.version(b) != 1 {
			t.Fatal("forgot before the time to live")
		}
		clock = clock.Add(2 * time.Second)
		if _, ok := w.get(b); ok {
			t.Error("still remembered after the time to live")
		}
		// Recording again after expiry starts afresh rather than growing
		// from the forgotten version.
		w.record(b, 1, nil)
		if w.version(b) != 1 {
			t.Errorf("after re-recording: version %d", w.version(b))
		}
	})

	t.Run("stays within its size, dropping the oldest", func(t *testing.T) {
		ids := []order.ID{order.NewID(), order.NewID(), order.NewID(), order.NewID()}
		for _, id := range ids {
			clock = clock.Add(time.Second)
			w.record(id, 1, nil)
		}
		w.mu.Lock()
		n := len(w.m)
		w.mu.Unlock()
		if n > 3 {
			t.Errorf("%d entries, want at most 3", n)
		}
		if w.version(ids[3]) != 1 {
			t.Error("the newest write was dropped")
		}
		if w.version(ids[0]) != 0 {
			t.Error("the oldest write survived")
		}
	})
}

func TestOrdersListFreshness(t *testing.T) {
	st := newLagStage()
	s := newLagServer(t, versionedLagStage{st})

	t.Run("an order placed but not on the read side shows as a pending row that watches for it", func(t *testing.T) {
		id := testPlace(t, st, "Pending Pat")
		s.writes.record(id, 1, placedOrder(order.PlaceOrder{ID: id, Customer: "Pending Pat", Address: "x",
			Lines: []order.Line{{SKU: "S", Name: "N", Quantity: 2, UnitPriceCents: 1250}}}, time.Now()))
		_, doc := get(t, s, "/orders?done=placed&placed="+id.String()+"&v=1")
		row := doc.Find(`[data-testid="order-row"][data-order-id="` + id.String() + `"]`)
		if row.Length() != 1 {
			t.Fatalf("%d rows for the placed order, want 1", row.Length())
		}
		if row.Find(`[data-testid="pending-badge"]`).Length() != 1 {
			t.Error("the row is not marked pending")
		}
		if got := strings.TrimSpace(row.Find(`[data-testid="customer"]`).Text()); got != "Pending Pat" {
			t.Errorf("customer %q, want what was submitted", got)
		}
		if got := row.AttrOr("sse-swap", ""); got != "order-"+id.String() {
			t.Errorf("sse-swap %q", got)
		}
		live := doc.Find(`[sse-connect]`)
		if live.Length() != 1 {
			t.Fatalf("%d sse-connect elements, want 1", live.Length())
		}
		u, err := url.Parse(live.AttrOr("sse-connect", ""))
		if err != nil || u.Path != "/live/orders" || u.Query().Get("w") != id.String()+".1" || u.Query().Get("placed") != id.String() {
			t.Errorf("sse-connect %q", live.AttrOr("sse-connect", ""))
		}
		if live.AttrOr("hx-ext", "") != "sse" || live.AttrOr("sse-close", "") != "done" {
			t.Errorf("the stream's element lacks hx-ext=sse or sse-close=done")
		}
	})

	t.Run("a reload without the registry still knows the version from the URL", func(t *testing.T) {
		id := testPlace(t, st, "Unknown Ursula") // never recorded
		_, doc := get(t, s, "/orders?placed="+id.String()+"&v=1")
		row := doc.Find(`[data-order-id="` + id.String() + `"]`)
		if row.Find(`[data-testid="pending-badge"]`).Length() != 1 {
			t.Error("no pending row from ?v=")
		}
		if row.Find(`a`).Length() != 0 {
			t.Error("a pending row links to a page the read side cannot show yet")
		}
	})

	t.Run("once the read side has it, the row is the projected one and nothing is watched", func(t *testing.T) {
		id := testPlace(t, st, "Caught Carla")
		s.writes.record(id, 1, nil)
		st.catchUp(id)
		_, doc := get(t, s, "/orders?placed="+id.String()+"&v=1")
		row := doc.Find(`[data-order-id="` + id.String() + `"]`)
		if row.Length() != 1 {
			t.Fatalf("%d rows, want 1", row.Length())
		}
		if row.Find(`[data-testid="pending-badge"], [data-testid="syncing"]`).Length() != 0 || row.AttrOr("sse-swap", "") != "" {
			t.Error("an up-to-date row is marked")
		}
	})

	t.Run("a row older than the version written is marked syncing", func(t *testing.T) {
		id := testPlace(t, st, "Shipping Sam")
		st.catchUp(id)
		ack, err := st.ShipOrder(context.Background(), order.ShipOrder{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		s.writes.record(id, ack.Version, nil)
		_, doc := get(t, s, "/orders")
		row := doc.Find(`[data-order-id="` + id.String() + `"]`)
		if row.Find(`[data-testid="syncing"]`).Length() != 1 {
			t.Error("the row is not marked syncing")
		}
		if !strings.Contains(doc.Find(`[sse-connect]`).AttrOr("sse-connect", ""), url.QueryEscape(id.String()+".2")) {
			t.Errorf("the stream does not watch v2: %q", doc.Find(`[sse-connect]`).AttrOr("sse-connect", ""))
		}
	})
	t.Run("an order deleted here and not yet gone from the read side is not listed", func(t *testing.T) {
		id := testPlace(t, st, "Deleted Dora")
		st.catchUp(id)
		s.writes.recordDeleted(id, 2) // the version its OrderDeleted made
		if _, doc := get(t, s, "/orders"); doc.Find(`[data-order-id="`+id.String()+`"]`).Length() != 0 {
			t.Error("the deleted order is listed")
		}
		s.writes.record(order.NewID(), 1, nil) // other writes leave it hidden
		_, doc := get(t, s, "/orders?done=delete")
		if n := doc.Find(`[data-order-id="` + id.String() + `"]`).Length(); n != 0 {
			t.Errorf("%d rows for the deleted order, want none", n)
		}
	})
}

func TestNoWatchWhenTheReadSideIsTheWriteSide(t *testing.T) {
	// Stages 0–2: reads see every write at once, so the same checks find
	// nothing to mark and the page opens no stream.
	st := newLagStage()
	st.source = order.WriteModel
	s := newLagServer(t, st) // no Version: the BFF reads the detail
	id := testPlace(t, st, "Immediate Ida")
	st.catchUp(id)
	s.writes.record(id, 1, nil)
	_, doc := get(t, s, "/orders?done=placed&placed="+id.String()+"&v=1")
	if n := doc.Find(`[data-order-id="` + id.String() + `"]`).Length(); n != 1 {
		t.Fatalf("%d rows for the order, want 1", n)
	}
	if doc.Find(`[sse-connect], [sse-swap], [data-testid="pending-badge"], [data-testid="syncing"]`).Length() != 0 {
		t.Error("an up-to-date list is marked or opens a stream")
	}
	_, doc = get(t, s, "/orders/"+id.String()+"?done=ship&v=1")
	if doc.Find(`[sse-connect], [data-testid="syncing-banner"]`).Length() != 0 {
		t.Error("an up-to-date order page is marked or opens a stream")
	}
}

func TestOrderPageSyncingBanner(t *testing.T) {
	st := newLagStage()
	s := newLagServer(t, versionedLagStage{st})
	id := testPlace(t, st, "Banner Bo")
	st.catchUp(id)
	if _, err := st.ShipOrder(context.Background(), order.ShipOrder{ID: id}); err != nil {
		t.Fatal(err)
	}
	// Only the URL knows (another instance handled the ship).
	_, doc := get(t, s, "/orders/"+id.String()+"?done=ship&v=2")
	banner := strings.TrimSpace(doc.Find(`[data-testid="syncing-banner"]`).Text())
	if want := "Saved as v2 — the read model still shows v1; this page updates when it catches up."; banner != want {
		t.Errorf("banner %q, want %q", banner, want)
	}
	live := doc.Find(`[sse-connect]`)
	if got := live.AttrOr("sse-connect", ""); got != "/live/orders/"+id.String()+"?v=2" {
		t.Errorf("sse-connect %q", got)
	}
	if got := live.Find(`[data-testid="order-detail"]`).AttrOr("sse-swap", ""); got != "order-"+id.String() {
		t.Errorf("the order's view swaps on %q", got)
	}
}

func TestPendingOrderPage(t *testing.T) {
	st := newLagStage()
	s := newLagServer(t, versionedLagStage{st})
	id := testPlace(t, st, "Early Eve")

	status, _ := get(t, s, "/orders/"+id.String())
	if status != http.StatusNotFound {
		t.Errorf("an order placed elsewhere, not on the read side: %d, want 404", status)
	}

	s.writes.record(id, 1, placedOrder(order.PlaceOrder{ID: id, Customer: "Early Eve", Address: "3 Soon St",
		Lines: []order.Line{{SKU: "SKU-3", Name: "Thing", Quantity: 3, UnitPriceCents: 100}}}, time.Now()))
	status, doc := get(t, s, "/orders/"+id.String())
	if status != http.StatusOK {
		t.Fatalf("the pending order's page: %d", status)
	}
	if got := strings.TrimSpace(doc.Find(`[data-testid="order-detail"] [data-testid="customer"]`).Text()); got != "Early Eve" {
		t.Errorf("customer %q", got)
	}
	if doc.Find(`[data-testid="line-row"]`).Length() != 1 || strings.TrimSpace(doc.Find(`[data-testid="order-total"]`).Text()) != "$3.00" {
		t.Error("the pending page does not show the submitted line and total")
	}
	if !strings.Contains(doc.Find(`[data-testid="syncing-banner"]`).Text(), "does not have this order yet") {
		t.Errorf("banner %q", doc.Find(`[data-testid="syncing-banner"]`).Text())
	}
	if got := strings.TrimSpace(doc.Find(`[data-testid="order-detail"] [data-testid="source"]`).Text()); got != "as submitted · stage 3 · v1" {
		t.Errorf("source %q", got)
	}
	if doc.Find(`[data-testid="actions"]`).Length() != 0 {
		t.Error("a pending page offers actions")
	}
	if got := doc.Find(`[sse-connect]`).AttrOr("sse-connect", ""); got != "/live/orders/"+id.String()+"?v=1" {
		t.Errorf("sse-connect %q", got)
	}
}

func TestPlacingTwiceThroughTheFormShowsOneRow(t *testing.T) {
	st := newLagStage()
	s := newLagServer(t, versionedLagStage{st})
	// The form's token and cookie.
	resp, err := s.App().Test(httptest.NewRequest(http.MethodGet, "/orders/new", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	token := doc.Find(`input[name="_csrf"]`).AttrOr("value", "")
	id := doc.Find(`input[name="id"]`).AttrOr("value", "")
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "staircase_csrf" {
			cookie = c
		}
	}
	if token == "" || id == "" || cookie == nil {
		t.Fatalf("the form lacks a token, an ID or a cookie (token %q, id %q)", token, id)
	}
	form := url.Values{"_csrf": {token}, "id": {id}, "customer": {"Twice Tom"}, "address": {"2 Double Rd"},
		"sku": {"SKU-2"}, "name": {"Gadget"}, "quantity": {"1"}, "unit_price": {"3.00"}}
	var location string
	for i := range 2 {
		req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(cookie)
		resp, err := s.App().Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("submit %d: %s", i+1, resp.Status)
		}
		location = resp.Header.Get("Location")
	}
	if want := "/orders?done=placed&placed=" + id + "&v=1"; location != want {
		t.Errorf("redirect %q, want %q", location, want)
	}
	_, doc = get(t, s, location)
	if n := doc.Find(`[data-testid="order-row"][data-order-id="` + id + `"]`).Length(); n != 1 {
		t.Errorf("%d rows for the order submitted twice, want 1", n)
	}
	if n := doc.Find(`[data-testid="order-row"]`).Length(); n != 1 {
		t.Errorf("%d rows in all, want 1", n)
	}
	pid, _ := order.ParseID(id)
	st.catchUp(pid)
	_, doc = get(t, s, location)
	if n := doc.Find(`[data-testid="order-row"]`).Length(); n != 1 {
		t.Errorf("after the read side caught up: %d rows, want 1", n)
	}
	if doc.Find(`[data-testid="pending-badge"]`).Length() != 0 {
		t.Error("still pending after the read side caught up")
	}
}

// sseEvent is one event read from a stream.
type sseEvent struct{ name, data string }

// readEvents reads events from r onto the returned channel until the
// stream ends, then closes it.
func readEvents(r io.Reader) <-chan sseEvent {
	out := make(chan sseEvent, 16)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
		var ev sseEvent
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					ev.data = strings.Join(data, "\n")
					out <- ev
				}
				ev, data = sseEvent{}, nil
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			}
		}
	}()
	return out
}

// serve runs s on a real listener (streams need one: fiber's App.Test
// returns only after the handler's body is complete) and returns its base
// URL and a shutdown that reports how long it took.
func serve(t *testing.T, s *Server) (string, func() (time.Duration, error)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.App().Listener(ln) }()
	var once sync.Once
	stop := func() (d time.Duration, err error) {
		once.Do(func() {
			start := time.Now()
			err = s.App().ShutdownWithTimeout(20 * time.Second)
			d = time.Since(start)
			<-done
		})
		return d, err
	}
	t.Cleanup(func() { _, _ = stop() })
	return "http://" + ln.Addr().String(), stop
}

// openStream GETs a stream and checks it is one.
func openStream(t *testing.T, url string) (*http.Response, <-chan sseEvent) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET %s: %s, %s", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	return resp, readEvents(resp.Body)
}

// waitReads waits until the stage's read side has answered more than n
// times: the stream has polled since.
func waitReads(t *testing.T, st *lagStage, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for st.readCount() <= n {
		if time.Now().After(deadline) {
			t.Fatal("the stream does not poll the read side")
		}
		time.Sleep(5 * time.Millisecond) // waiting for the stream's poll, which has no signal
	}
}

func nextEvent(t *testing.T, events <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the stream ended before the event")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	return sseEvent{}
}

var trPattern = regexp.MustCompile(`^<tr[^>]*data-order-id="([^"]+)"`)

func TestLiveOrdersStream(t *testing.T) {
	st := newLagStage()
	s := newLagServer(t, versionedLagStage{st})
	s.live.poll = 10 * time.Millisecond
	base, _ := serve(t, s)

	a := testPlace(t, st, "Stream Stella")
	b := testPlace(t, st, "Stream Stan")
	_, events := openStream(t, base+"/live/orders?w="+a.String()+".1&w="+b.String()+".1&placed="+b.String())
	waitReads(t, st, st.readCount()+2)

	st.catchUp(a)
	ev := nextEvent(t, events)
	if ev.name != "order-"+a.String() {
		t.Fatalf("first event %q, want order-%s", ev.name, a)
	}
	if m := trPattern.FindStringSubmatch(ev.data); m == nil || m[1] != a.String() {
		t.Errorf("the event's data is not the order's row: %.200s", ev.data)
	}
	if strings.Contains(ev.data, "pending-badge") || strings.Contains(ev.data, "sse-swap") || strings.Contains(ev.data, "highlight") {
		t.Errorf("the fresh row is still marked, or highlighted without being placed: %.300s", ev.data)
	}
	if !strings.Contains(ev.data, "Stream Stella") || !strings.Contains(ev.data, `href="/orders/`+a.String()+`"`) {
		t.Errorf("the fresh row lacks the customer or the link: %.300s", ev.data)
	}

	st.catchUp(b)
	ev = nextEvent(t, events)
	if ev.name != "order-"+b.String() || !strings.Contains(ev.data, `class="highlight"`) {
		t.Errorf("second event %q, want order-%s, highlighted: %.200s", ev.name, b, ev.data)
	}
	if ev := nextEvent(t, events); ev.name != "done" {
		t.Errorf("after every order caught up: event %q, want done", ev.name)
	}
	select {
	case ev, ok := <-events:
		if ok {
			t.Errorf("an event after done: %q", ev.name)
		}
	case <-time.After(10 * time.Second):
		t.Error("the stream stays open after done")
	}
}

func TestLiveOrderStream(t *testing.T) {
	st := newLagStage()
	s := newLagServer(t, versionedLagStage{st})
	s.live.poll = 10 * time.Millisecond
	base, _ := serve(t, s)
	id := testPlace(t, st, "Detail Dora")
	st.catchUp(id)
	if _, err := st.ShipOrder(context.Background(), order.ShipOrder{ID: id}); err != nil {
		t.Fatal(err)
	}
	_, events := openStream(t, base+"/live/orders/"+id.String()+"?v=2")
	waitReads(t, st, st.readCount()+1)
	st.catchUp(id)
	ev := nextEvent(t, events)
	if ev.name != "order-"+id.String() {
		t.Fatalf("event %q", ev.name)
	}
	if !strings.Contains(ev.data, `data-testid="order-detail"`) || !strings.Contains(ev.data, ">Shipped<") || !strings.Contains(ev.data, "read model · stage 3 · v2") {
		t.Errorf("the event is not the shipped order's view at v2: %.400s", ev.data)
	}
	if strings.Contains(ev.data, "syncing-banner") || strings.Contains(ev.data, "sse-swap") {
		t.Errorf("the fresh view is still marked syncing: %.300s", ev.data)
	}
	if ev := nextEvent(t, events); ev.name != "done" {
		t.Errorf("event %q, want done", ev.name)
	}
}

func TestLiveOrderStreamEndsWhenTheWriteWasRejected(t *testing.T) {
	st := newLagStage()
	s := newLagServer(t, versionedLagStage{st})
	s.live.poll = 10 * time.Millisecond
	base, _ := serve(t, s)
	id := testPlace(t, st, "Rejected Rita")
	st.catchUp(id)
	s.writes.record(id, 2, nil) // a queued ship the read side will never show
	_, events := openStream(t, base+"/live/orders/"+id.String()+"?v=2")
	waitReads(t, st, st.readCount()+1)
	st.mu.Lock()
	st.rejection = "rejected: cannot ship an order that is cancelled"
	st.mu.Unlock()
	ev := nextEvent(t, events)
	if ev.name != "order-"+id.String() || !strings.Contains(ev.data, "cannot ship an order that is cancelled") {
		t.Fatalf("event %q is not the order with its rejection: %.300s", ev.name, ev.data)
	}
	if ev := nextEvent(t, events); ev.name != "done" {
		t.Errorf("event %q, want done", ev.name)
	}
	if v := s.writes.version(id); v != 0 {
		t.Errorf("the rejected write is still waited for: v%d", v)
	}
}

func TestLiveStreamEndsAfterItsBound(t *testing.T) {
	st := newLagStage()
	s := newLagServer(t, versionedLagStage{st})
	s.live.poll, s.live.lifetime = 10*time.Millisecond, 300*time.Millisecond
	base, _ := serve(t, s)
	id := testPlace(t, st, "Never Nell") // the read side never catches up
	start := time.Now()
	_, events := openStream(t, base+"/live/orders?w="+id.String()+".1")
	for ev := range events {
		t.Errorf("event %q from a read side that never caught up", ev.name)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the stream lasted %v, bound 300 ms", d)
	}
}

func TestShutdownEndsOpenStreams(t *testing.T) {
	st := newLagStage()
	s := newLagServer(t, versionedLagStage{st})
	s.live.poll, s.live.lifetime = 10*time.Millisecond, time.Hour
	base, stop := serve(t, s)
	id := testPlace(t, st, "Open Olga")
	_, events := openStream(t, base+"/live/orders?w="+id.String()+".1")
	waitReads(t, st, st.readCount()+1)
	if _, err := stop(); err != nil {
		t.Fatalf("shutdown with a stream open: %v", err)
	}
	select {
	case _, ok := <-events:
		if ok {
			t.Error("an event from a read side that never caught up")
		}
	case <-time.After(10 * time.Second):
		t.Error("the stream is still open after the shutdown")
	}
}

func TestLiveStreamRejectsBadWatches(t *testing.T) {
	s := newLagServer(t, versionedLagStage{newLagStage()})
	for _, target := range []string{"/live/orders", "/live/orders?w=nope", "/live/orders?w=" + order.NewID().String() + ".0", "/live/orders/" + order.NewID().String()} {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Header.Set(fiber.HeaderAccept, fiber.MIMEApplicationJSON)
		resp, err := s.App().Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: %s, want 400", target, resp.Status)
		}
	}
}

func TestASyncingOrderPageOffersTheActionsOfTheVersionJustWritten(t *testing.T) {
	st := newLagStage()
	s := newLagServer(t, versionedLagStage{st})
	base, _ := serve(t, s)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	page := func(path string) *goquery.Document {
		t.Helper()
		res, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		doc, err := goquery.NewDocumentFromReader(res.Body)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, res.StatusCode, err)
		}
		return doc
	}
	id := testPlace(t, st, "Shipped Shay")
	st.catchUp(id)
	doc := page("/orders/" + id.String())
	token := doc.Find(`input[name="_csrf"]`).First().AttrOr("value", "")
	if doc.Find(`[data-testid="action-ship"]`).Length() != 1 {
		t.Fatal("a placed order offers no Ship")
	}
	// Ship through the page; the read side does not have it yet.
	res, err := client.PostForm(base+"/orders/"+id.String()+"/ship", url.Values{"_csrf": {token}, "expected_version": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("ship: %s", res.Status)
	}
	doc = page(res.Header.Get("Location"))
	if doc.Find(`[data-testid="syncing-banner"]`).Length() != 1 {
		t.Fatal("the page after shipping is not marked syncing")
	}
	for _, placedOnly := range []string{"action-ship", "action-cancel", "action-edit", "action-delete"} {
		if doc.Find(`[data-testid="`+placedOnly+`"]`).Length() != 0 {
			t.Errorf("the syncing page of a shipped order offers %s, which only a placed order allows", placedOnly)
		}
	}
	deliver := doc.Find(`[data-testid="action-deliver"]`)
	if deliver.Length() != 1 {
		t.Fatal("the syncing page of a shipped order does not offer Mark delivered")
	}
	if v := deliver.Closest("form").Find(`input[name="expected_version"]`).AttrOr("value", ""); v != "2" {
		t.Errorf("Mark delivered expects v%s, want the version just written, v2", v)
	}

	// Only the URL knows a newer version (another instance wrote it): its
	// status is unknown, so the page offers nothing until it catches up.
	other := testPlace(t, st, "Elsewhere Eli")
	st.catchUp(other)
	if _, err := st.ShipOrder(context.Background(), order.ShipOrder{ID: other}); err != nil {
		t.Fatal(err)
	}
	doc = page("/orders/" + other.String() + "?done=ship&v=2")
	if n := doc.Find(`[data-testid^="action-"]`).Length(); n != 0 {
		t.Errorf("a syncing page whose newest status is unknown offers %d actions", n)
	}
}
