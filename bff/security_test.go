package bff

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// bodyStage answers POST /api/commands/place-order with the length of the
// body it read, and counts the calls.
type bodyStage struct {
	Stage
	calls *int
}

func (s bodyStage) Routes(r fiber.Router) {
	r.Post("/api/commands/place-order", func(c *fiber.Ctx) error {
		*s.calls++
		return c.JSON(fiber.Map{"read": len(c.Body())})
	})
}

func newBodyServer(t *testing.T, calls *int) *Server {
	t.Helper()
	sw, err := NewSwitch(map[int]Stage{1: bodyStage{calls: calls}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(testConfig(Config{Switch: sw, Descriptions: Infos, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// gzipBomb is size zero bytes gzipped twice: a few hundred bytes.
func gzipBomb(t *testing.T, size int) []byte {
	t.Helper()
	var once bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&once, gzip.BestCompression)
	chunk := make([]byte, 1<<20)
	for n := 0; n < size; n += len(chunk) {
		if _, err := zw.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	var twice bytes.Buffer
	zw, _ = gzip.NewWriterLevel(&twice, gzip.BestCompression)
	if _, err := zw.Write(once.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return twice.Bytes()
}

func TestAnEncodedBodyIsRefusedBeforeItIsInflated(t *testing.T) {
	calls := 0
	s := newBodyServer(t, &calls)
	bomb := gzipBomb(t, 200<<20)
	if len(bomb) > 4<<10 {
		t.Fatalf("the bomb is %d bytes", len(bomb))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	a := call(t, s, http.MethodPost, "/api/commands/place-order", "application/json", string(bomb), "Content-Encoding", "gzip, gzip")
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("answering a %d-byte encoded body allocated %d MiB", len(bomb), grew>>20)
	}
	if a.status != http.StatusUnsupportedMediaType || a.ctype != "application/problem+json" {
		t.Errorf("an encoded body: %d %s %s, want 415 problem JSON", a.status, a.ctype, a.body)
	}
	if calls != 0 {
		t.Errorf("the stage read an encoded body %d times", calls)
	}

	a = call(t, s, http.MethodPost, "/api/commands/place-order", "application/json", `{"id": 1}`)
	var got struct{ Read int }
	if err := json.Unmarshal(a.body, &got); a.status != http.StatusOK || err != nil || got.Read != 9 {
		t.Errorf("a plain body: %d %s", a.status, a.body)
	}
	a = call(t, s, http.MethodPost, "/api/commands/place-order", "application/json", `{}`, "Content-Encoding", "identity")
	if a.status != http.StatusOK {
		t.Errorf("Content-Encoding identity: %d %s", a.status, a.body)
	}
}

// testConfig is cfg for servers answered through App().Test, whose
// requests name the host example.com and come from 0.0.0.0, taken here
// for a client on this machine.
func testConfig(cfg Config) Config {
	if cfg.Hosts == nil {
		cfg.Hosts = append(slices.Clone(LoopbackHosts), "example.com")
	}
	if cfg.isLocal == nil {
		cfg.isLocal = func(ip net.IP) bool { return ip.IsLoopback() || ip.IsUnspecified() }
	}
	return cfg
}

func TestOnlyTheServersOwnHostNamesAreAnswered(t *testing.T) {
	log := testEntries()
	sw, err := NewSwitch(map[int]Stage{0: fakeStage{}, 3: errorLogStage{ErrorLog: log}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	// No hosts configured: this machine's loopback names.
	s, err := New(Config{Switch: sw, Descriptions: Infos, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	send := func(method, target, host, body string) answer {
		t.Helper()
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		req.Host = host
		req.Header.Set("Origin", "http://"+strings.ToLower(host))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := s.App().Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, resp.Header.Get("Content-Type"), raw}
	}
	// A page of evil.example whose name now resolves to 127.0.0.1 (DNS
	// rebinding) is same-origin with itself.
	for _, r := range []struct{ method, target, body string }{
		{http.MethodPost, "/api/admin/error-log/replay", `{"all": true}`},
		{http.MethodGet, "/api/admin/error-log", ""},
		{http.MethodGet, "/orders", ""},
		{http.MethodGet, "/metrics", ""},
		{http.MethodGet, "/healthz", ""},
	} {
		for _, host := range []string{"evil.example", "evil.example:8080", "localhost.evil.example"} {
			a := send(r.method, r.target, host, r.body)
			if a.status != http.StatusMisdirectedRequest || a.ctype != "application/problem+json" {
				t.Errorf("%s %s for host %s: %d %s, want 421 problem JSON", r.method, r.target, host, a.status, a.ctype)
			}
		}
	}
	if len(log.replays) != 0 {
		t.Errorf("a request for another host replayed the error log: %v", log.replays)
	}
	for _, host := range []string{"localhost", "localhost:8080", "127.0.0.1:8080", "[::1]:8080", "LOCALHOST"} {
		if a := send(http.MethodGet, "/api/admin/stage", host, ""); a.status != http.StatusForbidden || !strings.Contains(string(a.body), "machine") {
			t.Errorf("GET /api/admin/stage for host %s: %d %s, want the admin API's own refusal", host, a.status, a.body)
		}
		if a := send(http.MethodGet, "/healthz", host, ""); a.status != http.StatusOK {
			t.Errorf("GET /healthz for host %s: %d %s", host, a.status, a.body)
		}
	}
}

func TestDefaultHostsAreLoopbackAndTheListenAddress(t *testing.T) {
	for _, c := range []struct {
		addr string
		want []string
	}{
		{"127.0.0.1:8080", []string{"localhost", "127.0.0.1", "::1"}},
		{":8080", []string{"localhost", "127.0.0.1", "::1"}},
		{"0.0.0.0:8080", []string{"localhost", "127.0.0.1", "::1"}},
		{"[::]:8080", []string{"localhost", "127.0.0.1", "::1"}},
		{"192.168.1.5:8080", []string{"localhost", "127.0.0.1", "::1", "192.168.1.5"}},
		{"[fe80::1]:8080", []string{"localhost", "127.0.0.1", "::1", "fe80::1"}},
		{"shop.example:80", []string{"localhost", "127.0.0.1", "::1", "shop.example"}},
	} {
		if got := DefaultHosts(c.addr); !slices.Equal(got, c.want) {
			t.Errorf("DefaultHosts(%q) = %q, want %q", c.addr, got, c.want)
		}
	}
}

func TestOnlyAWellFormedRequestIDIsKept(t *testing.T) {
	calls := 0
	s := newBodyServer(t, &calls)
	idFor := func(sent string) string {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		req.Header.Set("X-Request-Id", sent)
		resp, err := s.App().Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("X-Request-Id")
	}
	for _, good := range []string{"abc-123", "req_1.2", strings.Repeat("a", 64)} {
		if got := idFor(good); got != good {
			t.Errorf("request ID %q came back as %q", good, got)
		}
	}
	for _, bad := range []string{strings.Repeat("a", 65), "<script>alert(1)</script>", "a b", `"quoted"`, "ü", "x;y=1"} {
		got := idFor(bad)
		if got == bad || got == "" || !goodRequestID(got) {
			t.Errorf("request ID %q came back as %q, want a new one", bad, got)
		}
	}
}
