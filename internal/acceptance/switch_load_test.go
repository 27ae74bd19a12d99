package acceptance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
)

// loadClient sends commands through whichever API the active stage has:
// stage 0's /api/orders or the command API of stages 1–3. It learns which
// from a 404 that names the active stage, as a script would.
type loadClient struct {
	base   string
	http   *http.Client
	rnd    *rand.Rand
	crud   bool
	orders map[string]int // its orders and their versions as last acknowledged
	sent   *atomic.Int64
	errs   chan<- error
}

// send posts body to a path, and retries once on the other API if the
// active stage has none of this one.
func (c *loadClient) send(crudMethod, crudPath string, crudBody map[string]any, command string, body map[string]any) (int, int, error) {
	for range 3 {
		method, path := http.MethodPost, "/api/commands/"+command
		if c.crud {
			method, path = crudMethod, crudPath
		}
		body := body
		if c.crud {
			body = crudBody
		}
		raw, _ := json.Marshal(body)
		var rd io.Reader
		if method != http.MethodDelete {
			rd = bytes.NewReader(raw)
		}
		req, err := http.NewRequest(method, c.base+path, rd)
		if err != nil {
			return 0, 0, err
		}
		if rd != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := c.http.Do(req)
		if err != nil {
			return 0, 0, err
		}
		msg, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusNotFound && strings.Contains(string(msg), "is active and has no") {
			c.crud = !c.crud
			continue
		}
		version := 0
		if res.StatusCode < 300 {
			if c.crud && len(msg) > 0 {
				var o struct {
					Version int `json:"version"`
				}
				_ = json.Unmarshal(msg, &o)
				version = o.Version
			} else {
				version, _ = strconv.Atoi(strings.Trim(res.Header.Get("ETag"), `"`))
			}
		}
		return res.StatusCode, version, nil
	}
	return 0, 0, fmt.Errorf("no API of the active stage answered")
}

// step places an order or changes one of the client's orders.
func (c *loadClient) step() {
	ids := make([]string, 0, len(c.orders))
	for id := range c.orders {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if len(ids) == 0 || c.rnd.IntN(3) == 0 {
		id := newID()
		body := map[string]any{"id": id, "customer": "Load " + id[:8], "address": "1 Switch Street",
			"lines": []map[string]any{{"sku": "TEA-01", "name": "Green tea", "quantity": 1 + c.rnd.IntN(9), "unit_price_cents": 250}}}
		status, v, err := c.send(http.MethodPost, "/api/orders", body, "place-order", body)
		c.record(id, status, v, err)
		return
	}
	id := ids[c.rnd.IntN(len(ids))]
	v := c.orders[id]
	put := "/api/orders/" + id
	var status, nv int
	var err error
	switch c.rnd.IntN(5) {
	case 0:
		lines := []map[string]any{{"sku": "TEA-02", "name": "Black tea", "quantity": 1 + c.rnd.IntN(9), "unit_price_cents": 300}}
		status, nv, err = c.send(http.MethodPut, put, map[string]any{"version": v, "lines": lines},
			"change-order-lines", map[string]any{"id": id, "expected_version": v, "lines": lines})
	case 1:
		status, nv, err = c.send(http.MethodPut, put, map[string]any{"version": v, "status": "shipped"},
			"ship-order", map[string]any{"id": id, "expected_version": v})
	case 2:
		status, nv, err = c.send(http.MethodPut, put, map[string]any{"version": v, "status": "delivered"},
			"deliver-order", map[string]any{"id": id, "expected_version": v})
	case 3:
		status, nv, err = c.send(http.MethodPut, put, map[string]any{"version": v, "status": "cancelled", "reason": "load"},
			"cancel-order", map[string]any{"id": id, "expected_version": v, "reason": "load"})
	case 4:
		status, nv, err = c.send(http.MethodDelete, put+"?expected_version="+strconv.Itoa(v), nil,
			"delete-order", map[string]any{"id": id, "expected_version": v})
		if err == nil && status < 300 {
			delete(c.orders, id)
			c.sent.Add(1)
			return
		}
	}
	c.record(id, status, nv, err)
}

// record keeps what a command's answer says; a refusal (the order's state
// or version changed meanwhile) is part of the load, anything 5xx is not.
func (c *loadClient) record(id string, status, version int, err error) {
	switch {
	case err != nil:
		c.fail(err)
	case status >= 500:
		c.fail(fmt.Errorf("order %s: answered %d", id, status))
	case status < 300:
		c.sent.Add(1)
		if version > 0 {
			c.orders[id] = version
		}
	case status == http.StatusConflict:
		delete(c.orders, id) // its version is unknown now; leave it
	}
}

func (c *loadClient) fail(err error) {
	select {
	case c.errs <- err:
	default:
	}
}

// orderRows are the orders of a database as "id version status customer
// total", one a line, sorted.
func orderRows(ctx context.Context, db *bun.DB, query string) ([]string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, status, customer string
		var version int
		var total int64
		if err := rows.Scan(&id, &version, &status, &customer, &total); err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("%s v%d %s %q %d", strings.ToLower(id), version, status, customer, total))
	}
	sort.Strings(out)
	return out, rows.Err()
}

// sameRows says whether the read database shows exactly the orders of the
// database of record, row by row, and if not, how they differ.
func sameRows(ctx context.Context, write, read *bun.DB) (bool, string) {
	w, err := orderRows(ctx, write, `SELECT o.id, o.version, o.status, o.customer,
		(SELECT COALESCE(SUM(l.quantity * l.unit_price_cents), 0) FROM order_lines l WHERE l.order_id = o.id) FROM orders o`)
	if err != nil {
		return false, "read the database of record: " + err.Error()
	}
	r, err := orderRows(ctx, read, "SELECT id, version, status, customer, total_cents FROM order_views WHERE NOT deleted")
	if err != nil {
		return false, "read the read database: " + err.Error()
	}
	inRead := map[string]bool{}
	for _, row := range r {
		inRead[row] = true
	}
	inWrite := map[string]bool{}
	var missing, extra []string
	for _, row := range w {
		inWrite[row] = true
		if !inRead[row] {
			missing = append(missing, row)
		}
	}
	for _, row := range r {
		if !inWrite[row] {
			extra = append(extra, row)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return true, ""
	}
	// Whether the rows missing were written with an event (the projector
	// has yet to apply it) or without (a stage without a change log wrote
	// them, and entering stage 3 did not take them in).
	withEvent := 0
	for _, row := range missing {
		id, v, _ := strings.Cut(row, " v")
		v, _, _ = strings.Cut(v, " ")
		var n int
		if err := write.QueryRowContext(ctx, "SELECT COUNT(*) FROM change_log WHERE order_id = ? AND order_version = ?", id, v).Scan(&n); err == nil && n > 0 {
			withEvent++
		}
	}
	return false, fmt.Sprintf("%d orders; %d rows (%d written with an event) of the database of record not on the read side (first %v), %d read-side rows not in it (first %v)",
		len(w), len(missing), withEvent, missing[:min(3, len(missing))], len(extra), extra[:min(3, len(extra))])
}

func TestLiveSwitchUnderLoadLeavesTheReadSideEqualToTheRecord(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := start(t, app.Config{Stage: 3, WriteDB: b.URL(t)})
			br := browser{e}
			doc, _ := br.page(t, "/orders")
			token := csrfToken(t, doc)

			errs := make(chan error, 1)
			var sent atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for i := range 20 {
				c := &loadClient{base: e.base, http: &http.Client{Timeout: 60 * time.Second}, rnd: rand.New(rand.NewPCG(uint64(i), 7)),
					orders: map[string]int{}, sent: &sent, errs: errs}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
							c.step()
						}
					}
				}()
			}
			pause := func() { time.Sleep(300 * time.Millisecond) }
			pause()
			for _, n := range []int{0, 3, 2, 3, 1, 3} {
				_, r := br.post(t, "/stage", url.Values{"_csrf": {token}, "stage": {strconv.Itoa(n)}})
				if r.status != http.StatusSeeOther {
					t.Fatalf("switch to %d: %d %s", n, r.status, r.body)
				}
				// Entering stage 3 may rebuild its read database first, in
				// the background.
				waitActive(t, e, n)
				pause()
			}
			close(stop)
			wg.Wait()
			// Under load the clients' transport dials connections it then
			// does not use (another one freed up first); the server counts
			// such a connection as busy until its read timeout, longer than
			// the app's graceful shutdown waits. Close them.
			http.DefaultClient.CloseIdleConnections()
			select {
			case err := <-errs:
				t.Fatalf("a client failed: %v", err)
			default:
			}
			if sent.Load() == 0 {
				t.Fatal("no command went through while the stages switched")
			}
			t.Logf("%d commands acknowledged", sent.Load())

			// The projector catches up with the events of stage 3's own
			// writes; everything else must already be there.
			var why string
			deadline := time.Now().Add(60 * time.Second)
			for {
				ok, w := sameRows(context.Background(), e.app.WriteDB, e.app.ReadDB)
				if ok {
					return
				}
				why = w
				if time.Now().After(deadline) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			var parked, events, history int
			_ = e.app.ReadDB.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM error_log WHERE status IN ('parked', 'held')").Scan(&parked)
			_ = e.app.WriteDB.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM change_log").Scan(&events)
			_ = e.app.ReadDB.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM order_history WHERE type <> 'Synced'").Scan(&history)
			var relayed, maxSeq int64
			_ = e.app.WriteDB.QueryRowContext(context.Background(), "SELECT COALESCE(MAX(seq), 0) FROM relay_positions").Scan(&relayed)
			_ = e.app.WriteDB.QueryRowContext(context.Background(), "SELECT COALESCE(MAX(seq), 0) FROM change_log").Scan(&maxSeq)
			t.Fatalf("a minute after the last switch the read side still differs from the database of record: %s "+
				"(%d events in the change log up to seq %d, relayed up to %d, %d projected, %d parked or held)", why, events, maxSeq, relayed, history, parked)
		})
	}
}

// waitActive waits until stage n is active: entering stage 3 may rebuild
// its read database first, in the background.
func waitActive(t *testing.T, e *env, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if active, _ := e.app.Switch.Active(); active == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stage %d was not entered within a minute", n)
		}
	}
}
