package bff

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"runtime"
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
// requests name the host example.com.
func testConfig(cfg Config) Config {
	return cfg
}
