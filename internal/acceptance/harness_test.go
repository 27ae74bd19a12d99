package acceptance

import (
	"bytes"
	"context"

	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/messaging/natstest"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
)

// env is one running Staircase for a test.
type env struct {
	t       *testing.T
	base    string
	app     *app.App
	client  *http.Client
	api     stageAPI
	stage   int
	backend string
	// async: stage 3 queues commands on its command bus (202 Accepted).
	async bool
}

// stages lists the stages the suite runs against, each with its adapter.
var stages = []struct {
	n    int
	name string            // the subtest's name: "stage" + name ("3-async"), or n
	cfg  func(*app.Config) // what the stage's variant changes in the app's config
	api  func(e *env) stageAPI
}{
	{n: 0, api: func(e *env) stageAPI { return crudAPI{e} }},
	{n: 1, api: func(e *env) stageAPI { return cqrsAPI{e} }},
	{n: 2, api: func(e *env) stageAPI { return cqrsAPI{e} }},
	{n: 3, api: func(e *env) stageAPI { return cqrsAPI{e} }},
	{n: 3, name: "3-async", cfg: func(c *app.Config) { c.CommandBus = "async" }, api: func(e *env) stageAPI { return cqrsAPI{e} }},
}

// forEachStage runs f as a subtest per stage and database backend.
func forEachStage(t *testing.T, f func(t *testing.T, e *env)) {
	for _, st := range stages {
		for _, b := range sqltest.Backends() {
			name := st.name
			if name == "" {
				name = string(rune('0' + st.n))
			}
			t.Run("stage"+name+"/"+b.Name, func(t *testing.T) {
				t.Parallel()
				cfg := app.Config{Stage: st.n, WriteDB: b.URL(t)}
				if st.cfg != nil {
					st.cfg(&cfg)
				}
				e := start(t, cfg)
				e.backend = b.Name
				e.api = st.api(e)
				f(t, e)
			})
		}
	}
}

// start runs the app on a free port until the test ends.
func start(t *testing.T, cfg app.Config) *env {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.NATSURL == "" {
		cfg.NATSURL, cfg.BusNamespace = natstest.Shared(t)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("start app: %v", err)
	}
	if err := a.Ready(ctx); err != nil {
		cancel()
		a.Close()
		t.Fatalf("prepare stage %d: %v", cfg.Stage, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
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
	jar, _ := cookiejar.New(nil)
	return &env{
		t: t, base: "http://" + ln.Addr().String(), app: a, stage: cfg.Stage, async: cfg.CommandBus == "async",
		client: &http.Client{Timeout: 30 * time.Second, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
	}
}

// response is what a request answered.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) problem(t *testing.T) problem {
	t.Helper()
	var p problem
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("status %d with Content-Type %q, want problem JSON; body %s", r.status, ct, r.body)
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body %s: %v", r.body, err)
	}
	if p.Status != r.status {
		t.Fatalf("problem status %d, response status %d", p.Status, r.status)
	}
	return p
}

type problem struct {
	Type           string             `json:"type"`
	Title          string             `json:"title"`
	Status         int                `json:"status"`
	Detail         string             `json:"detail"`
	Code           string             `json:"code"`
	Errors         []order.FieldError `json:"errors"`
	CurrentVersion int                `json:"current_version"`
}

func (p problem) hasField(name string) bool {
	for _, f := range p.Errors {
		if f.Field == name {
			return true
		}
	}
	return false
}

// do sends a request; body may be a string (sent as is) or any value (sent
// as JSON).
func (e *env) do(method, path, contentType string, body any) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: raw}
}

func (e *env) json(method, path string, body any) response {
	return e.do(method, path, "application/json", body)
}

// eventually polls cond until it holds, for at most 15 s: reads of a stage
// with a separate read side catch up with writes after a while; the others
// hold at once.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for wait := 5 * time.Millisecond; ; wait = min(wait*2, 200*time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(wait)
	}
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, r.body, err)
	}
	return v
}
