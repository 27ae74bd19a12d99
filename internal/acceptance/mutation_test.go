package acceptance

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/order"
)

// The HTTP mutation run: thousands of requests made from valid ones by
// breaking them the ways clients and attackers do, sent to every route of
// every stage. Whatever arrives, the app answers with a client error or a
// success, never a 5xx, keeps running, and changes no order it should not:
// the only orders it may ever hold are the witnesses it started with and
// those a request placed with a fresh ID and was told so; the witnesses,
// delivered (a status no command may leave), keep their version.
//
// STAIRCASE_MUTATIONS sets the number of requests per stage and backend
// (default 4,000: 20,000 over the five stage variants on SQLite, as many
// again on PostgreSQL).

// route is one route of the app as the run mutates it.
type route struct {
	method, path string // path may hold {id}, {name}, {action}
	kind         string // "json" (JSON API), "form" (browser form) or "page"
	stages       []int  // the stages that serve it; nil: every stage
}

var mutationRoutes = []route{
	{http.MethodGet, "/api/orders", "page", []int{0}},
	{http.MethodPost, "/api/orders", "json", []int{0}},
	{http.MethodGet, "/api/orders/{id}", "page", []int{0}},
	{http.MethodPut, "/api/orders/{id}", "json", []int{0}},
	{http.MethodDelete, "/api/orders/{id}", "json", []int{0}},
	{http.MethodPost, "/api/commands/{name}", "json", []int{1, 2, 3}},
	{http.MethodGet, "/api/queries/order-summaries", "page", []int{1, 2, 3}},
	{http.MethodGet, "/api/queries/orders/{id}", "page", []int{1, 2, 3}},
	{http.MethodGet, "/api/queries/dashboard", "page", []int{1, 2, 3}},
	{http.MethodGet, "/api/queries/commands/{id}", "page", []int{3}},
	{http.MethodGet, "/api/admin/error-log", "page", nil},
	{http.MethodGet, "/api/admin/error-log/{id}", "page", nil},
	{http.MethodPost, "/api/admin/error-log/replay", "json", nil},
	{http.MethodGet, "/", "page", nil},
	{http.MethodGet, "/orders", "page", nil},
	{http.MethodGet, "/orders/new", "page", nil},
	{http.MethodGet, "/orders/new/line", "page", nil},
	{http.MethodPost, "/orders", "form", nil},
	{http.MethodGet, "/orders/{id}", "page", nil},
	{http.MethodGet, "/orders/{id}/edit", "page", nil},
	{http.MethodPost, "/orders/{id}/lines", "form", nil},
	{http.MethodPost, "/orders/{id}/{action}", "form", nil},
	{http.MethodGet, "/dashboard", "page", nil},
	{http.MethodGet, "/architecture", "page", nil},
	{http.MethodGet, "/architecture/source", "page", nil},
	{http.MethodGet, "/admin/error-log", "page", nil},
	{http.MethodGet, "/admin/error-log/{id}", "page", nil},
	{http.MethodPost, "/admin/error-log", "form", nil},
	{http.MethodGet, "/healthz", "page", nil},
	{http.MethodGet, "/static/app.css", "page", nil},
	// Routes that would change the whole app are sent only with a bad CSRF
	// token (see send): switching the stage, rebuilding.
	{http.MethodPost, "/stage", "form", nil},
	{http.MethodPost, "/architecture/rebuild", "form", nil},
}

// wild are strings that break things: control characters, bidi overrides,
// emoji, markup, SQL, path tricks, a long string.
var wild = []string{
	"", " ", "\x00", "a\x00b", "\u202eevil", "🎉🧨", "<img src=x onerror=alert(1)>", "' OR 1=1 --", "%", "_", "\\",
	"../../etc/passwd", "%00", "\xff\xfe", "null", "NaN", "-1", "0", "1e400", "99999999999999999999",
	strings.Repeat("a", 300), strings.Repeat("é", 5000),
}

// wildJSON are JSON values of every type and none that fits.
var wildJSON = []string{
	`null`, `true`, `0`, `-1`, `1.5`, `1e400`, `-9223372036854775809`, `9223372036854775808`, `"x"`, `""`,
	`"\u0000"`, `"\u202e"`, `[]`, `[1,2]`, `{}`, `{"a":1}`, `"` + strings.Repeat("z", 100_000) + `"`,
}

type mutator struct {
	rng       *rand.Rand
	witnesses []string
}

func (m *mutator) pick(xs []string) string { return xs[m.rng.IntN(len(xs))] }

// id is an order ID as a mutated request names it: a witness (most often),
// an unknown v7, a v4, the nil UUID, or no UUID at all.
func (m *mutator) id() string {
	switch m.rng.IntN(8) {
	case 0, 1, 2, 3:
		return m.pick(m.witnesses)
	case 4:
		return order.NewID().String()
	case 5:
		return uuid.New().String() // v4
	case 6:
		return uuid.Nil.String()
	default:
		return m.pick(wild)
	}
}

// validBody is a well-formed body for a command, about a witness or, for
// place, a fresh order.
func (m *mutator) validBody(name string, fresh string) map[string]any {
	lines := []any{map[string]any{"sku": "A-1", "name": "Widget", "quantity": 2, "unit_price_cents": 250}}
	switch name {
	case "place-order", "POST /api/orders":
		return map[string]any{"id": fresh, "customer": "Mutant", "address": "1 Fuzz Rd", "lines": lines}
	case "change-order-lines":
		return map[string]any{"id": m.id(), "lines": lines, "expected_version": 3}
	case "cancel-order":
		return map[string]any{"id": m.id(), "reason": "why not", "expected_version": 0}
	case "PUT /api/orders":
		return map[string]any{"status": m.pick([]string{"placed", "shipped", "delivered", "cancelled", "lost"}), "lines": lines}
	case "replay":
		return map[string]any{"id": m.rng.IntN(5), "dry_run": m.rng.IntN(2) == 0}
	}
	return map[string]any{"id": m.id(), "expected_version": m.rng.IntN(5)}
}

// mutateJSON breaks a body one or a few ways.
func (m *mutator) mutateJSON(body map[string]any) string {
	for range 1 + m.rng.IntN(3) {
		keys := make([]string, 0, len(body))
		for k := range body {
			keys = append(keys, k)
		}
		switch m.rng.IntN(9) {
		case 0: // a field of another type
			if len(keys) > 0 {
				body[m.pick(keys)] = json.RawMessage(m.pick(wildJSON))
			}
		case 1: // a field missing
			if len(keys) > 0 {
				delete(body, m.pick(keys))
			}
		case 2: // an unknown field
			body[m.pick([]string{"status", "version", "__proto__", "Customer", "total_cents"})] = 1
		case 3: // wild text
			body[m.pick([]string{"customer", "address", "reason", "currency"})] = m.pick(wild)
		case 4: // many lines
			n := m.pick([]string{"0", "51", "10000"})
			k, _ := strconv.Atoi(n)
			ls := make([]any, k)
			for i := range ls {
				ls[i] = map[string]any{"sku": "S" + strconv.Itoa(i), "name": "n", "quantity": 1, "unit_price_cents": 1}
			}
			body["lines"] = ls
		case 5: // lines whose totals overflow
			body["lines"] = []any{map[string]any{"sku": "BIG", "name": "n", "quantity": json.RawMessage(m.pick([]string{"1000", "1001", "9223372036854775807", "-5", "1.5"})),
				"unit_price_cents": json.RawMessage(m.pick([]string{"10000000", "10000001", "9223372036854775807", "-1", "1e19"}))}}
		case 6: // a bad ID
			body["id"] = m.pick(append([]string{uuid.New().String(), uuid.Nil.String(), strings.ToUpper(order.NewID().String())}, wild...))
		case 7: // expected version out of range
			body["expected_version"] = json.RawMessage(m.pick([]string{"-1", "2147483648", "9223372036854775808", `"3"`, "3.0"}))
		}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return `{"broken":`
	}
	s := string(raw)
	switch m.rng.IntN(12) {
	case 0: // cut short
		return s[:m.rng.IntN(len(s)+1)]
	case 1: // trailing garbage
		return s + m.pick([]string{"{}", "x", " \x00"})
	case 2: // not an object
		return m.pick([]string{"[" + s + "]", `"` + s + `"`, "", "   "})
	case 3: // duplicate keys
		return strings.Replace(s, "{", `{"id":"x",`, 1)
	}
	return s
}

// query is a mutated query string for the list routes.
func (m *mutator) query() string {
	q := url.Values{}
	for range m.rng.IntN(4) {
		switch m.rng.IntN(4) {
		case 0:
			q.Set("status", m.pick(append([]string{"placed", "shipped", "SHIPPED"}, wild...)))
		case 1:
			q.Set("q", m.pick(wild))
		case 2:
			q.Set("limit", m.pick([]string{"1", "100", "101", "0", "-1", "abc", "1e9", "99999999999999999999"}))
		case 3:
			q.Set("after", m.pick(append([]string{
				order.Cursor{ID: order.NewID()}.Encode(), "LTEuMDE5N2EzYzQtMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMDAx",
				"OTIyMzM3MjAzNjg1NDc3NTgwNy4wMTk3YTNjNC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDE",
			}, wild...)))
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// form is a mutated browser form for a form route.
func (m *mutator) form(path, token, fresh string) url.Values {
	f := url.Values{"_csrf": {token}}
	switch {
	case path == "/orders":
		f.Set("id", fresh)
		f.Set("customer", "Mutant")
		f.Set("address", "1 Form Rd")
		for range 1 + m.rng.IntN(3) {
			f.Add("sku", "F-"+strconv.Itoa(m.rng.IntN(1000)))
			f.Add("name", "Thing")
			f.Add("quantity", "1")
			f.Add("unit_price", "2.50")
		}
	case strings.HasSuffix(path, "/lines"):
		f.Add("sku", "L-1")
		f.Add("name", "Line")
		f.Add("quantity", "3")
		f.Add("unit_price", "1")
		f.Set("expected_version", "3")
	default:
		f.Set("expected_version", strconv.Itoa(m.rng.IntN(5)))
		f.Set("reason", "because")
		f.Set("stage", strconv.Itoa(m.rng.IntN(4)))
		f.Set("id", strconv.Itoa(m.rng.IntN(4)))
	}
	for range m.rng.IntN(4) {
		k := m.pick([]string{"id", "customer", "address", "sku", "name", "quantity", "unit_price", "expected_version", "reason", "_csrf", "stage", "extra"})
		switch m.rng.IntN(3) {
		case 0:
			f.Set(k, m.pick(wild))
		case 1:
			f.Del(k)
		default:
			for range m.rng.IntN(60) {
				f.Add(k, m.pick(wild))
			}
		}
	}
	return f
}

func TestHTTPMutations(t *testing.T) {
	per := 4000
	if testing.Short() {
		per = 400
	}
	if s := os.Getenv("STAIRCASE_MUTATIONS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("STAIRCASE_MUTATIONS=%q: want a positive number", s)
		}
		per = n
	}
	var total, clientErrors atomic.Int64
	t.Cleanup(func() {
		if !t.Failed() {
			t.Logf("mutation run: %d requests, %d answered 4xx, none 5xx", total.Load(), clientErrors.Load())
		}
	})
	forEachStage(t, func(t *testing.T, e *env) {
		m := &mutator{rng: rand.New(rand.NewPCG(uint64(e.stage), uint64(len(e.backend))))}
		for range 3 {
			m.witnesses = append(m.witnesses, delivered(t, e))
		}
		doc, r := browser{e}.page(t, "/orders/new")
		if r.status != http.StatusOK {
			t.Fatalf("new order page: %d", r.status)
		}
		token := csrfToken(t, doc)

		placed := map[string]bool{} // fresh IDs a request was told were placed (true) or queued (false)
		var routes []route
		for _, rt := range mutationRoutes {
			if rt.stages == nil || containsInt(rt.stages, e.stage) {
				routes = append(routes, rt)
			}
		}
		names := []string{"place-order", "change-order-lines", "ship-order", "deliver-order", "cancel-order", "delete-order"}
		for i := range per {
			rt := routes[i%len(routes)]
			fresh := order.NewID().String()
			path := strings.NewReplacer(
				"{id}", url.PathEscape(m.id()),
				"{name}", m.pick(append(names, "paint-order", "", "%00", "place-order/x")),
				"{action}", m.pick([]string{"ship", "deliver", "cancel", "delete"}),
			).Replace(rt.path)
			method, ct, body := rt.method, "", ""
			switch rt.kind {
			case "json":
				key := strings.TrimPrefix(path, "/api/commands/")
				switch {
				case rt.method == http.MethodPost && path == "/api/orders":
					key = "POST /api/orders"
				case rt.method == http.MethodPut:
					key = "PUT /api/orders"
				case strings.HasSuffix(path, "/replay"):
					key = "replay"
				}
				ct = "application/json"
				if m.rng.IntN(4) == 0 {
					raw, _ := json.Marshal(m.validBody(key, fresh))
					body = string(raw)
				} else {
					body = m.mutateJSON(m.validBody(key, fresh))
				}
			case "form":
				ct = "application/x-www-form-urlencoded"
				tok := token
				if m.rng.IntN(5) == 0 || rt.path == "/stage" || rt.path == "/architecture/rebuild" {
					tok = m.pick([]string{"", "bad", token + "x", strings.Repeat("t", 5000)})
				}
				body = m.form(path, tok, fresh).Encode()
			default:
				path += m.query()
			}
			switch m.rng.IntN(12) { // odd methods and content types
			case 0:
				method = m.pick([]string{"PATCH", "OPTIONS", "TRACE", "PROPFIND", "HEAD", "DELETE", "PUT", "POST"})
				if (path == "/stage" || path == "/architecture/rebuild") && method == http.MethodPost {
					method = http.MethodPut
				}
			case 1:
				ct = m.pick([]string{"", "text/plain", "application/json; charset=utf-16", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "application/JSON"})
			}
			res := send(t, e, method, path, ct, body, m.rng.IntN(10) == 0)
			total.Add(1)
			if res.status >= 500 {
				t.Fatalf("%s %.200s (%s) %.300q: %d %.500s", method, path, ct, body, res.status, res.body)
			}
			if res.status >= 400 {
				clientErrors.Add(1)
			}
			if res.status < 400 && method == http.MethodPost &&
				(path == "/api/orders" || path == "/api/commands/place-order" || path == "/orders") {
				if id, ok := placedID(body); ok && !containsString(m.witnesses, id) {
					// Applied, or only queued (202): a queued one may still be
					// rejected by the command handler, so it is allowed, not
					// required.
					placed[id] = placed[id] || res.status != http.StatusAccepted
				}
			}
		}
		if r := e.do(http.MethodGet, "/healthz", "", nil); r.status != http.StatusOK {
			t.Fatalf("healthz after the run: %d %s", r.status, r.body)
		}
		checkOnlyWhatWasPlaced(t, e, m.witnesses, placed)
	})
}

// send sends one request; odd adds headers a browser or proxy might.
func send(t *testing.T, e *env, method, path, ct, body string, odd bool) response {
	t.Helper()
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if err != nil { // a path no client can send
		return response{status: http.StatusBadRequest}
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if odd {
		req.Header.Set("HX-Request", "true")
		req.Header.Set("HX-Target", "orders-results")
		req.Header.Set("Accept", "text/event-stream, */*;q=0.1")
		req.Header.Set("X-CSRF-Token", "nope")
		req.Header.Set("Accept-Language", strings.Repeat("en;q=0.9,", 200))
	}
	res, err := e.client.Do(req)
	if err != nil {
		// The server may refuse a request past its limits (body, URL,
		// headers) by closing the connection before reading it all; any
		// other broken connection is a crash.
		if len(body) <= httpapi.MaxBody && len(path) < 4000 {
			t.Fatalf("%s %.200s: %v", method, path, err)
		}
		return response{status: http.StatusRequestEntityTooLarge}
	}
	defer res.Body.Close()
	// Read to the end (so the connection is reused), keeping the start.
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	_, _ = io.Copy(io.Discard, res.Body)
	return response{status: res.StatusCode, header: res.Header, body: raw}
}

// delivered makes a witness: an order taken to delivered, which no command
// may change or delete.
func delivered(t *testing.T, e *env) string {
	t.Helper()
	id := order.NewID().String()
	body := map[string]any{"id": id, "customer": "Witness", "address": "1 Still St",
		"lines": []httpapi.Line{{SKU: "W-1", Name: "Witness", Quantity: 1, UnitPriceCents: 100}}}
	if r := e.api.place(body); !r.ok() {
		t.Fatalf("place witness: %d %s", r.status, r.body)
	}
	for v, step := range []func() result{
		func() result { return e.api.ship(id, 1) },
		func() result { return e.api.deliver(id, 2) },
	} {
		eventually(t, "witness at version "+strconv.Itoa(v+1), func() bool {
			o, found := e.api.get(id)
			return found && o.Version == v+1
		})
		if r := step(); !r.ok() {
			t.Fatalf("witness step %d: %d %s", v+2, r.status, r.body)
		}
	}
	eventually(t, "witness delivered", func() bool {
		o, found := e.api.get(id)
		return found && o.Version == 3 && o.Status == "delivered"
	})
	return id
}

// checkOnlyWhatWasPlaced reads the database of record: the witnesses are
// as they were, and every other order is one a request was told it placed.
func checkOnlyWhatWasPlaced(t *testing.T, e *env, witnesses []string, placed map[string]bool) {
	t.Helper()
	type row struct {
		ID      string `bun:"id"`
		Status  string `bun:"status"`
		Version int    `bun:"version"`
	}
	eventually(t, "the placements applied", func() bool {
		var rows []row
		if err := e.app.WriteDB.NewSelect().Table("orders").Column("id", "status", "version").Scan(e.t.Context(), &rows); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, r := range rows {
			seen[r.ID] = true
			if containsString(witnesses, r.ID) {
				if r.Version != 3 || r.Status != "delivered" {
					t.Fatalf("witness %s changed: %s at version %d", r.ID, r.Status, r.Version)
				}
			} else if _, told := placed[r.ID]; !told {
				t.Fatalf("order %s is one no request was told it placed", r.ID)
			}
		}
		for _, w := range witnesses {
			if !seen[w] {
				t.Fatalf("witness %s is gone", w)
			}
		}
		for id, applied := range placed {
			if applied && !seen[id] {
				return false
			}
		}
		return true
	})
	t.Logf("%d orders placed by mutated requests, witnesses unchanged", len(placed))
}

// placedID reads the order ID a place request that succeeded sent, in JSON
// or as a form, as the database stores it.
func placedID(body string) (string, bool) {
	var v struct {
		ID string `json:"id"`
	}
	raw := v.ID
	if err := json.Unmarshal([]byte(body), &v); err == nil {
		raw = v.ID
	} else if f, err := url.ParseQuery(body); err == nil {
		raw = f.Get("id")
	}
	id, err := uuid.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", false
	}
	return id.String(), true
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func containsString(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
