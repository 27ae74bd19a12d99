package bff

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/stageview"
)

// slowStage answers GET /api/which with its name, after a signal, so a
// test can switch stages while the request is in flight.
type slowStage struct {
	Stage
	name    string
	started chan struct{}
	release chan struct{}
}

func (s slowStage) Routes(r fiber.Router) {
	r.Get("/api/which", func(c *fiber.Ctx) error {
		if s.started != nil {
			close(s.started)
			<-s.release
		}
		return c.SendString(s.name)
	})
}

func TestARequestFinishesOnTheStageItStartedOn(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	sw, err := NewSwitch(map[int]Stage{
		1: slowStage{name: "one", started: started, release: release},
		2: slowStage{name: "two"},
	}, 1)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(testConfig(Config{Switch: sw, Descriptions: Infos}))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.App().Listener(ln) //nolint:errcheck // ends with Shutdown below
	t.Cleanup(func() { _ = srv.App().Shutdown() })
	get := func() (string, error) {
		res, err := http.Get("http://" + ln.Addr().String() + "/api/which")
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return string(b), err
	}

	inFlight := make(chan string, 1)
	go func() {
		body, err := get()
		if err != nil {
			body = err.Error()
		}
		inFlight <- body
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached stage 1")
	}
	if err := sw.Set(context.Background(), 2, nil); err != nil {
		t.Fatal(err)
	}
	if body, err := get(); err != nil || body != "two" {
		t.Fatalf("a request after the switch: %q %v, want stage two", body, err)
	}
	close(release)
	select {
	case body := <-inFlight:
		if strings.TrimSpace(body) != "one" {
			t.Fatalf("the request in flight during the switch answered %q, want stage one", body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request in flight never finished")
	}
}

func TestHealthzSaysTheProcessServesAndReadyzWhetherTheStageCan(t *testing.T) {
	sw, err := NewSwitch(map[int]Stage{0: slowStage{name: "zero"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	down := true
	srv, err := New(testConfig(Config{Switch: sw, Descriptions: Infos, Health: func(context.Context) error {
		if down {
			return io.ErrUnexpectedEOF
		}
		return nil
	}}))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		down         bool
		ready        int
		readyStatus  string
		healthStatus int
	}{{true, http.StatusServiceUnavailable, "unavailable", http.StatusOK}, {false, http.StatusOK, "ok", http.StatusOK}} {
		down = c.down
		if code, _ := getJSON(t, srv, "/healthz"); code != c.healthStatus {
			t.Errorf("database down=%v: /healthz answered %d, want %d", c.down, code, c.healthStatus)
		}
		code, body := getJSON(t, srv, "/readyz")
		if code != c.ready || body["status"] != c.readyStatus {
			t.Errorf("database down=%v: /readyz answered %d %v, want %d %q", c.down, code, body, c.ready, c.readyStatus)
		}
	}
}

// readyStage reports the readiness it is given.
type readyStage struct {
	slowStage
	r stageview.Readiness
}

func (s readyStage) Readiness(context.Context) stageview.Readiness { return s.r }

func TestReadyzIsDegradedWhileTheStageCanServeAndUnavailableWhenItCannot(t *testing.T) {
	lag := 42.0
	for _, c := range []struct {
		name       string
		components []stageview.Component
		code       int
		status     string
	}{
		{"all_up", []stageview.Component{{Key: "read_db", Name: "read database", State: stageview.Up, Essential: true}}, http.StatusOK, "ok"},
		{"write_db_down_while_commands_wait_on_the_bus", []stageview.Component{
			{Key: "write_db", Name: "write database", State: stageview.Down, Reason: "commands wait on the bus"},
			{Key: "read_db", Name: "read database", State: stageview.Up, Essential: true},
			{Key: "projector", Name: "projector", State: stageview.Degraded, Reason: "behind", Lag: &lag},
		}, http.StatusOK, "degraded"},
		{"read_db_dropped", []stageview.Component{
			{Key: "write_db", Name: "write database", State: stageview.Up, Essential: true},
			{Key: "read_db", Name: "read database", State: stageview.Down, Essential: true, Reason: "reads fail"},
		}, http.StatusServiceUnavailable, "unavailable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sw, err := NewSwitch(map[int]Stage{3: readyStage{r: stageview.Readiness{Components: c.components}}}, 3)
			if err != nil {
				t.Fatal(err)
			}
			srv, err := New(testConfig(Config{Switch: sw, Descriptions: Infos}))
			if err != nil {
				t.Fatal(err)
			}
			if code, _ := getJSON(t, srv, "/healthz"); code != http.StatusOK {
				t.Errorf("/healthz answered %d, want 200 while the process serves", code)
			}
			code, body := getJSON(t, srv, "/readyz")
			if code != c.code || body["status"] != c.status {
				t.Fatalf("/readyz answered %d %v, want %d %q", code, body, c.code, c.status)
			}
			comps, _ := body["components"].([]any)
			if len(comps) != len(c.components) {
				t.Fatalf("/readyz lists %d components, want %d: %v", len(comps), len(c.components), body)
			}
			if c.status != "ok" && len(body["reasons"].([]any)) == 0 {
				t.Fatalf("/readyz is %s without reasons: %v", c.status, body)
			}
		})
	}
}

func getJSON(t *testing.T, srv *Server, path string) (int, map[string]any) {
	t.Helper()
	res, err := srv.App().Test(httptest.NewRequest(http.MethodGet, path, nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatalf("GET %s: %d, not JSON: %v", path, res.StatusCode, err)
	}
	return res.StatusCode, out
}

// fencedStage answers POST /api/write and GET /api/read with its name; as
// an Enterer it reports each Enter and blocks the second until released.
type fencedStage struct {
	Stage
	name    string
	entered chan int
	release chan struct{}
	calls   *int
}

func (s fencedStage) Routes(r fiber.Router) {
	r.Post("/api/write", func(c *fiber.Ctx) error { return c.SendString(s.name) })
	r.Get("/api/read", func(c *fiber.Ctx) error { return c.SendString(s.name) })
}

func (s fencedStage) Enter(ctx context.Context, _ func(done, total int64)) error {
	*s.calls++
	s.entered <- *s.calls
	if *s.calls == 2 {
		<-s.release
	}
	return nil
}

func TestWritesWaitAtTheFenceWhileAStageIsEnteredAndRunOnTheNewStage(t *testing.T) {
	calls := 0
	entering := fencedStage{name: "two", entered: make(chan int, 2), release: make(chan struct{}), calls: &calls}
	sw, err := NewSwitch(map[int]Stage{1: fencedStage{name: "one"}, 2: entering}, 1)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(testConfig(Config{Switch: sw, Descriptions: Infos}))
	if err != nil {
		t.Fatal(err)
	}
	send := func(method, path string) string {
		req := httptest.NewRequest(method, path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		res, err := srv.App().Test(req, -1)
		if err != nil {
			return err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	switched := make(chan error, 1)
	go func() { switched <- sw.Set(context.Background(), 2, nil) }()
	if n := <-entering.entered; n != 1 {
		t.Fatalf("first Enter call was number %d", n)
	}
	if n := <-entering.entered; n != 2 {
		t.Fatalf("second Enter call was number %d", n)
	}
	// The fence is closed now: the stage is entered a second time.
	written := make(chan string, 1)
	go func() { written <- send(http.MethodPost, "/api/write") }()
	if got := send(http.MethodGet, "/api/read"); got != "one" {
		t.Errorf("a read during the fence answered %q, want stage one", got)
	}
	select {
	case got := <-written:
		t.Fatalf("a write passed the closed fence, answered by %q", got)
	case <-time.After(100 * time.Millisecond):
	}
	close(entering.release)
	if err := <-switched; err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-written:
		if got != "two" {
			t.Fatalf("the write that waited at the fence ran on %q, want the new stage two", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the write that waited at the fence never ran")
	}
}

// TestTheArchitecturePageSaysWhatIsNotWell: the running stage's parts that
// are degraded or down are listed with the reason, e.g. the transaction a
// relay waits for; a preview of another stage lists nothing.
func TestTheArchitecturePageSaysWhatIsNotWell(t *testing.T) {
	const why = "waiting for transaction pid 4242 in database orders, open 42s (idle in transaction); 17 events held"
	sw, err := NewSwitch(map[int]Stage{0: fakeStage{}, 3: readyStage{r: stageview.Readiness{Components: []stageview.Component{
		{Key: "read_db", Name: "read database", State: stageview.Up, Essential: true},
		{Key: "relay", Name: "relay", State: stageview.Degraded, Reason: why},
	}}}}, 3)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(testConfig(Config{Switch: sw, Descriptions: Infos}))
	if err != nil {
		t.Fatal(err)
	}
	_, doc := get(t, srv, "/architecture")
	notes := doc.Find(`[data-testid="health-note"]`)
	if notes.Length() != 1 || !strings.Contains(notes.Text(), why) || notes.AttrOr("data-state", "") != "degraded" {
		t.Fatalf("health notes: %d %q", notes.Length(), notes.Text())
	}
	if _, doc := get(t, srv, "/architecture?stage=0"); doc.Find(`[data-testid="health"]`).Length() != 0 {
		t.Error("a preview of another stage lists the running stage's health")
	}
}
