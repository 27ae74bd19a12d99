package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/metrics"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
)

// The read benchmarks at size: the dashboard and a search that matches
// nothing, on a database of record seeded by `staircase seed --orders N`
// (realistic orders, with their events in the change log), stage 0 beside
// stage 3. Stage 0 adds up every order per request and scans for the
// search; stage 3 reads its dashboard projection and its trigram index.
//
//	STAIRCASE_BENCH_ORDERS=500000 go test -run '^$' -bench 'Dashboard|SearchNoMatch' ./internal/bench/
//
// On SQLite the seeded data folder is kept in $TMPDIR/staircase-bench-N
// and reused by later runs (stage 3's read database, rebuilt when first
// entered, and its bus included); remove it to seed afresh. On PostgreSQL
// (STAIRCASE_TEST_POSTGRES) each benchmark seeds fresh databases.

// benchOrdersEnv sizes the seeded database.
const benchOrdersEnv = "STAIRCASE_BENCH_ORDERS"

// benchOrdersDefault is a size quick enough for every run.
const benchOrdersDefault = 20_000

// noMatch is a customer search no seeded order matches.
const noMatch = "qzxjv"

// BenchmarkDashboard reads the dashboard page per operation.
func BenchmarkDashboard(b *testing.B) {
	forEachSeededStage(b, func(b *testing.B, s *server) {
		ctx := context.Background()
		for b.Loop() {
			if err := s.getPage(ctx, "/dashboard", `data-testid="revenue"`); err != nil {
				b.Fatal(err)
			}
		}
		reportMillis(b)
	})
}

// BenchmarkSearchNoMatch searches the orders list for a customer no order
// has, per operation: the whole table is looked at unless an index answers.
func BenchmarkSearchNoMatch(b *testing.B) {
	forEachSeededStage(b, func(b *testing.B, s *server) {
		ctx := context.Background()
		path := "/api/queries/order-summaries?q=" + noMatch
		if s.client.Stage() == 0 {
			path = "/api/orders?q=" + noMatch
		}
		for b.Loop() {
			if err := s.getPage(ctx, path, `"orders":[]`); err != nil {
				b.Fatal(err)
			}
		}
		reportMillis(b)
	})
}

// reportMillis reports the time per operation in milliseconds, the unit
// the targets are set in.
func reportMillis(b *testing.B) {
	if b.N > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/op")
	}
}

// getPage GETs path and checks that the answer is a 200 containing want.
func (s *server) getPage(ctx context.Context, path, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := s.client.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		return fmt.Errorf("GET %s: %d, want 200 with %s: %.300s", path, resp.StatusCode, want, body)
	}
	return nil
}

// forEachSeededStage runs f as a sub-benchmark for stages 0 and 3 on each
// backend (stage=N/db=…), on one seeded database per backend.
func forEachSeededStage(b *testing.B, f func(b *testing.B, s *server)) {
	n := envInt(b, benchOrdersEnv, benchOrdersDefault)
	b.Logf("%d seeded orders (%s)", n, benchOrdersEnv)
	for _, be := range sqltest.Backends() {
		var cfg app.Config
		if be.Name == "sqlite" {
			cfg = app.Config{DataDir: seededSQLite(b, n)}
		} else {
			cfg = app.Config{DataDir: b.TempDir(), WriteDB: be.URL(b), ReadDB: be.URL(b)}
			seed(b, cfg, n)
		}
		for _, stage := range []int{0, 3} {
			b.Run(stageName(stage)+"/db="+be.Name, func(b *testing.B) {
				c := cfg
				c.Stage = stage
				f(b, startSeeded(b, c))
			})
		}
	}
}

// seededSQLite returns the data folder of a SQLite database of record
// seeded with n orders, seeding it the first time.
func seededSQLite(b *testing.B, n int) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "staircase-bench-"+strconv.Itoa(n))
	done := filepath.Join(dir, "seeded")
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	seed(b, app.Config{DataDir: dir}, n)
	if err := os.WriteFile(done, []byte(strconv.Itoa(n)+" orders\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

// seed runs `staircase seed --orders n` on cfg's databases, with the
// command built once per run.
func seed(b *testing.B, cfg app.Config, n int) {
	b.Helper()
	bin := staircaseBinary(b)
	args := []string{"seed", "--orders", strconv.Itoa(n), "--seed", "1", "--data-dir", cfg.DataDir}
	if cfg.WriteDB != "" {
		args = append(args, "--write-db", cfg.WriteDB, "--read-db", cfg.ReadDB)
	}
	start := time.Now()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		b.Fatalf("staircase %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	b.Logf("seeded %d orders in %s", n, time.Since(start).Round(time.Second))
}

// startSeeded runs the app on cfg's seeded databases, as startServer does
// on fresh ones, and in stage 3 waits until the relay and both consumers
// of the event bus are idle: the seeded change log is published once, and
// a benchmark should not race it.
func startSeeded(b *testing.B, cfg app.Config) *server {
	b.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	a, err := app.New(ctx, cfg)
	if err != nil {
		cancel()
		b.Fatalf("start app: %v", err)
	}
	if err := a.Ready(ctx); err != nil {
		cancel()
		a.Close()
		b.Fatalf("prepare stage %d: %v", cfg.Stage, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		a.Close()
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("serve: %v", err)
		}
		a.Close()
	})
	base := "http://" + ln.Addr().String()
	s := &server{app: a, base: base, client: NewClient(base, cfg.Stage, newHTTPClient(4))}
	b.Cleanup(s.client.http.CloseIdleConnections)
	if cfg.Stage == 3 {
		s.waitIdle(b)
	}
	b.Logf("stage %d ready in %s", cfg.Stage, time.Since(start).Round(time.Millisecond))
	return s
}

// waitIdle waits until the relay publishes nothing more and the bus has
// nothing pending for the projector or the dashboard projector.
func (s *server) waitIdle(b *testing.B) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Minute)
	last := -1.0
	for time.Now().Before(deadline) {
		m, err := s.metrics()
		if err != nil {
			b.Fatal(err)
		}
		published := m[metrics.RelayPublished]
		pending := 0.0
		for k, v := range m {
			if strings.HasPrefix(k, metrics.BusPending+"{") && strings.Contains(k, "events") || strings.HasPrefix(k, metrics.Namespace+"_dashboard_pending_messages") {
				pending += v
			}
		}
		if published == last && pending == 0 {
			return
		}
		last = published
		time.Sleep(time.Second)
	}
	b.Fatal("stage 3 did not settle: the relay or a consumer of the event bus is still busy")
}

// metrics reads the app's /metrics as name{labels} → value.
func (s *server) metrics() (map[string]float64, error) {
	resp, err := s.client.http.Get(s.base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		at := strings.LastIndexByte(line, ' ')
		if at < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[at+1:], 64)
		if err != nil {
			continue
		}
		out[line[:at]] = v
	}
	return out, sc.Err()
}
