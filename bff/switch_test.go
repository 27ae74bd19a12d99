package bff

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
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
	srv, err := New(Config{Switch: sw, Descriptions: Infos})
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

func TestHealthzAnswers503WhenTheDatabaseDoesNot(t *testing.T) {
	sw, err := NewSwitch(map[int]Stage{0: slowStage{name: "zero"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	down := true
	srv, err := New(Config{Switch: sw, Descriptions: Infos, Health: func(context.Context) error {
		if down {
			return io.ErrUnexpectedEOF
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		down bool
		want int
	}{{true, http.StatusServiceUnavailable}, {false, http.StatusOK}} {
		down = c.down
		res, err := srv.App().Test(httptest.NewRequest(http.MethodGet, "/healthz", nil))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Errorf("database down=%v: /healthz answered %d, want %d", c.down, res.StatusCode, c.want)
		}
	}
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
	srv, err := New(Config{Switch: sw, Descriptions: Infos})
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
