// Package checkapp runs Staircase for the exercises' checks: the whole app
// in stage 3, on SQLite files in a temporary folder and the embedded NATS
// server, served on a free port, with the few HTTP calls the checks make.
// The checks talk to it mostly as an attendee would, through the JSON
// APIs, so that any solution that works passes, however it is written;
// the databases are there too (WriteDB, ReadDB), for what no API shows,
// such as the change log.
package checkapp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/httpapi"
)

// App is a Staircase running in stage 3 for one test.
type App struct {
	*app.App
	// Base is the app's URL, e.g. http://127.0.0.1:41234.
	Base   string
	t      testing.TB
	client *http.Client
}

// Start runs the app in stage 3 until the test ends.
func Start(t testing.TB) *App {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, app.Config{
		Stage: 3, DataDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		cancel()
		t.Fatalf("start the app: %v", err)
	}
	if err := a.Ready(ctx); err != nil {
		cancel()
		a.Close()
		t.Fatalf("prepare stage 3: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		a.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		a.Close()
	})
	return &App{App: a, Base: "http://" + ln.Addr().String(), t: t, client: &http.Client{Timeout: 30 * time.Second}}
}

// Response is what a request answered.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Problem is a problem JSON body (RFC 9457) as the app writes it.
type Problem struct {
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// Problem decodes the body as problem JSON; ok is false when it is not.
func (r Response) Problem() (p Problem, ok bool) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
		return Problem{}, false
	}
	return p, json.Unmarshal(r.Body, &p) == nil
}

// HasField reports whether the problem names field among its field errors.
func (p Problem) HasField(field string) bool {
	for _, e := range p.Errors {
		if e.Field == field {
			return true
		}
	}
	return false
}

func (r Response) String() string { return fmt.Sprintf("%d %s", r.Status, bytes.TrimSpace(r.Body)) }

// Do sends a request with body as JSON (none if nil).
func (a *App) Do(method, path string, body any) Response {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, a.Base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := a.client.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: raw}
}

// Line is an order line for Place.
type Line = httpapi.Line

// Place places an order for customer and returns its ID.
func (a *App) Place(customer string, lines ...Line) string {
	a.t.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	r := a.Do(http.MethodPost, "/api/commands/place-order", httpapi.OrderRequest{
		ID: id, Customer: customer, Address: "1 Check Street, Springfield", Lines: lines,
	})
	if r.Status != http.StatusCreated {
		a.t.Fatalf("place an order for %s: %s", customer, r)
	}
	return id
}

// Command sends a command (ship-order, cancel-order, …) and fails the test
// unless it is acknowledged.
func (a *App) Command(name string, body any) {
	a.t.Helper()
	if r := a.Do(http.MethodPost, "/api/commands/"+name, body); r.Status/100 != 2 {
		a.t.Fatalf("%s %v: %s", name, body, r)
	}
}

// Order reads an order from the read side; found is false until the read
// side has it.
func (a *App) Order(id string) (o httpapi.Order, found bool) {
	a.t.Helper()
	r := a.Do(http.MethodGet, "/api/queries/orders/"+id, nil)
	if r.Status == http.StatusNotFound {
		return o, false
	}
	if r.Status != http.StatusOK {
		a.t.Fatalf("read order %s: %s", id, r)
	}
	if err := json.Unmarshal(r.Body, &o); err != nil {
		a.t.Fatalf("read order %s: %v", id, err)
	}
	return o, true
}

// WaitProjected waits until the read side has the order at version or
// later.
func (a *App) WaitProjected(id string, version int) {
	a.t.Helper()
	Eventually(a.t, fmt.Sprintf("the read side has order %s at version %d", id, version), func() bool {
		o, found := a.Order(id)
		return found && o.Version >= version
	})
}

// Eventually polls cond every 20 ms until it holds, for at most 15 s, and
// fails the test saying what it waited for if it never does.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 15 s for this, in vain: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
