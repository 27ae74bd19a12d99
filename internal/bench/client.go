package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/order"
)

// Client speaks the JSON API of whichever stage a Staircase runs: stage 0's
// /api/orders, or the /api/commands and /api/queries of stages 1 to 3.
type Client struct {
	base  string
	stage int
	http  *http.Client
	seq   atomic.Int64
}

// NewClient returns a client of the Staircase at base (http://host:port),
// in the given stage. Use Dial to ask the server which stage it is in.
func NewClient(base string, stage int, hc *http.Client) *Client {
	if hc == nil {
		hc = newHTTPClient(64)
	}
	return &Client{base: strings.TrimRight(base, "/"), stage: stage, http: hc}
}

// newHTTPClient keeps enough idle connections for conns concurrent
// requests, so that a benchmark measures requests and not TCP handshakes.
func newHTTPClient(conns int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = conns * 2
	tr.MaxIdleConnsPerHost = conns * 2
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}
}

// Dial asks the Staircase at base for its stage (GET /healthz) and returns
// a client for it.
func Dial(ctx context.Context, base string, conns int) (_ *Client, err error) {
	c := NewClient(base, 0, newHTTPClient(conns))
	defer func() {
		if err != nil {
			c.http.CloseIdleConnections()
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/healthz", nil)
	if err != nil {
		return nil, err
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("is Staircase running at %s? %w", base, err)
	}
	defer res.Body.Close()
	var h struct {
		Status string `json:"status"`
		Stage  *int   `json:"stage"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<16)).Decode(&h); err != nil || h.Stage == nil {
		return nil, fmt.Errorf("%s/healthz answered %d without a stage: is this Staircase?", base, res.StatusCode)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s/healthz answered %d (%s)", base, res.StatusCode, h.Status)
	}
	c.stage = *h.Stage
	return c, nil
}

// Stage is the stage the client speaks to.
func (c *Client) Stage() int { return c.stage }

// Result is the outcome of one request: its HTTP status (0 when no answer
// came), the order it concerned and the version the answer carried.
type Result struct {
	Status  int
	ID      order.ID
	Version int
	// Accepted is true for a command only queued (202, stage 3's command
	// bus): its version is not known yet.
	Accepted bool
	Err      error
}

// OK reports whether the request succeeded.
func (r Result) OK() bool { return r.Err == nil && r.Status >= 200 && r.Status < 300 }

// NewOrder returns the body of a new order with a fresh client-made ID.
func (c *Client) NewOrder() httpapi.OrderRequest {
	n := c.seq.Add(1)
	return httpapi.OrderRequest{
		ID:       order.NewID().String(),
		Customer: "Bench customer " + strconv.FormatInt(n%97, 10),
		Address:  "1 Load Street, Benchville",
		Lines: []httpapi.Line{
			{SKU: "BENCH-1", Name: "Widget", Quantity: 2, UnitPriceCents: 1250},
			{SKU: "BENCH-2", Name: "Gadget", Quantity: 1, UnitPriceCents: 4999},
		},
	}
}

// Place places a new order.
func (c *Client) Place(ctx context.Context) Result {
	body := c.NewOrder()
	id, _ := order.ParseID(body.ID)
	path := "/api/commands/place-order"
	if c.stage == 0 {
		path = "/api/orders"
	}
	r := c.send(ctx, http.MethodPost, path, body)
	r.ID = id
	if r.Accepted && r.Version == 0 {
		r.Version = 1 // a queued place-order makes version 1 once applied
	}
	return r
}

// Ship ships an order that is placed.
func (c *Client) Ship(ctx context.Context, id order.ID) Result {
	var r Result
	if c.stage == 0 {
		r = c.send(ctx, http.MethodPut, "/api/orders/"+id.String(), map[string]any{"status": "shipped"})
	} else {
		r = c.send(ctx, http.MethodPost, "/api/commands/ship-order", map[string]any{"id": id.String()})
	}
	r.ID = id
	return r
}

// List reads the first page of the orders list (limit orders).
func (c *Client) List(ctx context.Context, limit int) Result {
	path := "/api/queries/order-summaries"
	if c.stage == 0 {
		path = "/api/orders"
	}
	return c.send(ctx, http.MethodGet, path+"?"+url.Values{"limit": {strconv.Itoa(limit)}}.Encode(), nil)
}

// Get reads one order; the result's version is the one the read saw.
func (c *Client) Get(ctx context.Context, id order.ID) Result {
	path := "/api/queries/orders/"
	if c.stage == 0 {
		path = "/api/orders/"
	}
	r := c.send(ctx, http.MethodGet, path+id.String(), nil)
	r.ID = id
	return r
}

// send makes one request and reads the version from the answer: the ETag
// of the command and query APIs, or the body's version on stage 0.
func (c *Client) send(ctx context.Context, method, path string, body any) Result {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return Result{Err: err}
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return Result{Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return Result{Err: err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	r := Result{Status: res.StatusCode, Accepted: res.StatusCode == http.StatusAccepted, Err: err}
	if r.Err != nil || r.Status < 200 || r.Status > 299 {
		if r.Err == nil {
			r.Err = fmt.Errorf("%s %s: %d %s", method, path, r.Status, bytes.TrimSpace(raw[:min(len(raw), 300)]))
		}
		return r
	}
	if etag := strings.Trim(res.Header.Get("ETag"), `"`); etag != "" {
		r.Version, _ = strconv.Atoi(etag)
	} else if c.stage == 0 && !strings.Contains(path, "?") {
		// Stage 0 answers with the order itself (a list has a query).
		var o struct {
			Version int `json:"version"`
		}
		if json.Unmarshal(raw, &o) == nil {
			r.Version = o.Version
		}
	}
	return r
}
