package acceptance

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/staircase/staircase/internal/httpapi"
)

// stageAPI is what the scenarios ask of a stage's JSON API. Each stage
// gets an adapter; the scenarios never know which stage they talk to.
type stageAPI interface {
	// place places an order from a request body (any JSON value) and
	// returns the outcome; ok results carry the new version.
	place(body any) result
	// get reads an order; found is false on 404.
	get(id string) (o httpapi.Order, found bool)
	// list reads a page of summaries with query parameters.
	list(query url.Values) (page, response)
	changeLines(id string, lines []httpapi.Line, expected int) result
	ship(id string, expected int) result
	deliver(id string, expected int) result
	cancel(id, reason string, expected int) result
	remove(id string, expected int) result
	// placePath is where place requests go, for bad payloads sent as is.
	placePath() string
}

// result is a command's outcome: the response, and for an ack the
// order's new version.
type result struct {
	response
	version int
}

func (r result) ok() bool { return r.status >= 200 && r.status < 300 }

// page is a list of orders as the scenarios compare them.
type page struct {
	ids      []string
	versions map[string]int
	statuses map[string]string
	totals   map[string]int64
	next     string
}

// crudAPI is stage 0's /api/orders.
type crudAPI struct{ e *env }

func (a crudAPI) place(body any) result {
	r := a.e.json(http.MethodPost, "/api/orders", body)
	return a.orderResult(r)
}

func (a crudAPI) orderResult(r response) result {
	res := result{response: r}
	if res.ok() && len(r.body) > 0 {
		res.version = decode[httpapi.Order](a.e.t, r).Version
	}
	return res
}

func (a crudAPI) get(id string) (httpapi.Order, bool) {
	r := a.e.json(http.MethodGet, "/api/orders/"+id, nil)
	if r.status == http.StatusNotFound {
		return httpapi.Order{}, false
	}
	if r.status != http.StatusOK {
		a.e.t.Fatalf("GET order %s: %d %s", id, r.status, r.body)
	}
	return decode[httpapi.Order](a.e.t, r), true
}

func (a crudAPI) list(q url.Values) (page, response) {
	r := a.e.json(http.MethodGet, "/api/orders?"+q.Encode(), nil)
	p := page{versions: map[string]int{}, statuses: map[string]string{}, totals: map[string]int64{}}
	if r.status != http.StatusOK {
		return p, r
	}
	l := decode[httpapi.OrderList](a.e.t, r)
	for _, o := range l.Orders {
		p.ids = append(p.ids, o.ID)
		p.versions[o.ID], p.statuses[o.ID], p.totals[o.ID] = o.Version, o.Status, o.TotalCents
	}
	p.next = l.Next
	return p, r
}

func (a crudAPI) put(id string, body map[string]any, expected int) result {
	if expected != 0 {
		body["version"] = expected
	}
	return a.orderResult(a.e.json(http.MethodPut, "/api/orders/"+id, body))
}

func (a crudAPI) changeLines(id string, lines []httpapi.Line, expected int) result {
	return a.put(id, map[string]any{"lines": lines}, expected)
}
func (a crudAPI) ship(id string, expected int) result {
	return a.put(id, map[string]any{"status": "shipped"}, expected)
}
func (a crudAPI) deliver(id string, expected int) result {
	return a.put(id, map[string]any{"status": "delivered"}, expected)
}
func (a crudAPI) cancel(id, reason string, expected int) result {
	return a.put(id, map[string]any{"status": "cancelled", "reason": reason}, expected)
}
func (a crudAPI) remove(id string, expected int) result {
	path := "/api/orders/" + id
	if expected != 0 {
		path += "?expected_version=" + strconv.Itoa(expected)
	}
	r := a.e.do(http.MethodDelete, path, "", nil)
	res := result{response: r}
	if res.ok() {
		res.version = -1 // deleted: no version to read back
	}
	return res
}
func (a crudAPI) placePath() string { return "/api/orders" }

// cqrsAPI is the command and query APIs of stages 1 to 3.
type cqrsAPI struct{ e *env }

// summary is a row of /api/queries/order-summaries.
type summary struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Version    int    `json:"version"`
	TotalCents int64  `json:"total_cents"`
}

func (a cqrsAPI) command(name string, body any) result {
	r := a.e.json(http.MethodPost, "/api/commands/"+name, body)
	if r.status == http.StatusAccepted {
		return a.awaitCommand(name, r)
	}
	res := result{response: r}
	if res.ok() {
		etag := strings.Trim(r.header.Get("ETag"), `"`)
		v, err := strconv.Atoi(etag)
		if err != nil {
			a.e.t.Fatalf("command %s answered %d without a version ETag (%q)", name, r.status, r.header.Get("ETag"))
		}
		if r.status != http.StatusAccepted && len(strings.TrimSpace(string(r.body))) > 0 && r.status != http.StatusCreated {
			a.e.t.Fatalf("command %s answered with a body: %s", name, r.body)
		}
		res.version = v
	}
	return res
}

func (a cqrsAPI) place(body any) result { return a.command("place-order", body) }

func (a cqrsAPI) get(id string) (httpapi.Order, bool) {
	r := a.e.json(http.MethodGet, "/api/queries/orders/"+id, nil)
	if r.status == http.StatusNotFound {
		return httpapi.Order{}, false
	}
	if r.status != http.StatusOK {
		a.e.t.Fatalf("GET order %s: %d %s", id, r.status, r.body)
	}
	return decode[httpapi.Order](a.e.t, r), true
}

func (a cqrsAPI) list(q url.Values) (page, response) {
	r := a.e.json(http.MethodGet, "/api/queries/order-summaries?"+q.Encode(), nil)
	p := page{versions: map[string]int{}, statuses: map[string]string{}, totals: map[string]int64{}}
	if r.status != http.StatusOK {
		return p, r
	}
	l := decode[struct {
		Orders []summary `json:"orders"`
		Next   string    `json:"next"`
	}](a.e.t, r)
	for _, o := range l.Orders {
		p.ids = append(p.ids, o.ID)
		p.versions[o.ID], p.statuses[o.ID], p.totals[o.ID] = o.Version, o.Status, o.TotalCents
	}
	p.next = l.Next
	return p, r
}

func withExpected(body map[string]any, expected int) map[string]any {
	if expected != 0 {
		body["expected_version"] = expected
	}
	return body
}

func (a cqrsAPI) changeLines(id string, lines []httpapi.Line, expected int) result {
	return a.command("change-order-lines", withExpected(map[string]any{"id": id, "lines": lines}, expected))
}
func (a cqrsAPI) ship(id string, expected int) result {
	return a.command("ship-order", withExpected(map[string]any{"id": id}, expected))
}
func (a cqrsAPI) deliver(id string, expected int) result {
	return a.command("deliver-order", withExpected(map[string]any{"id": id}, expected))
}
func (a cqrsAPI) cancel(id, reason string, expected int) result {
	return a.command("cancel-order", withExpected(map[string]any{"id": id, "reason": reason}, expected))
}
func (a cqrsAPI) remove(id string, expected int) result {
	return a.command("delete-order", withExpected(map[string]any{"id": id}, expected))
}
func (a cqrsAPI) placePath() string { return "/api/commands/place-order" }
