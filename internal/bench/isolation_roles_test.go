package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/messaging/natstest"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
)

// The read isolation benchmark's settings, from the environment.
const (
	envIsolationSeconds = "STAIRCASE_BENCH_ISOLATION_SECONDS" // seconds per phase (default 6)
	envIsolationWriters = "STAIRCASE_BENCH_ISOLATION_WRITERS" // clients placing orders as fast as they can (default 16)
)

// BenchmarkReadIsolationRoles measures how much saturating writes slow the
// reads down: the p99 of order-list queries, paced at a steady 100 a
// second, while 16 clients place orders as fast as they can, divided by
// the p99 of the same queries with no writes (isolation-ratio; 1 is
// perfect isolation). Stage 3 with the async command bus, on PostgreSQL
// and NATS, as real processes:
//
//   - roles=all: one `staircase serve` running everything, as `make run`
//     does, on both cores;
//   - roles=split: a web process pinned to core 0 (taskset) serving the
//     queries, and the write side pinned to core 1: the web process that
//     takes the commands, and one running commands, relay and projector.
//
// The benchmark and the servers it talks to (PostgreSQL, NATS) are not
// pinned. It needs STAIRCASE_TEST_POSTGRES and STAIRCASE_TEST_NATS, two
// cores and taskset; run it with -benchtime 1x.
func BenchmarkReadIsolationRoles(b *testing.B) {
	if os.Getenv(sqltest.EnvPostgres) == "" || os.Getenv(natstest.EnvNATS) == "" {
		b.Skip("read isolation NOT measured: the roles share PostgreSQL and NATS; set " + sqltest.EnvPostgres + " and " + natstest.EnvNATS)
	}
	if runtime.NumCPU() < 2 {
		b.Skip("read isolation NOT measured: it pins the web process and the write side to two cores; this machine has one")
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		b.Skip("read isolation NOT measured: taskset (util-linux) is not installed")
	}
	bin := buildStaircase(b)
	seconds := envInt(b, envIsolationSeconds, 6)
	writers := envInt(b, envIsolationWriters, 16)
	for _, mode := range []string{"all", "split"} {
		b.Run("roles="+mode, func(b *testing.B) {
			var idle, loaded Sample
			var placed int
			for range b.N {
				reads, writes := startIsolated(b, bin, taskset, mode)
				idle, loaded, placed = measureIsolation(b, bin, taskset, mode, reads, writes, time.Duration(seconds)*time.Second, writers)
			}
			p99idle, p99loaded := idle.Percentile(99), loaded.Percentile(99)
			b.ReportMetric(Millis(p99idle), "idle-p99-ms")
			b.ReportMetric(Millis(p99loaded), "loaded-p99-ms")
			b.ReportMetric(float64(placed)/float64(seconds+2), "writes/s")
			b.ReportMetric(float64(p99loaded)/float64(max(p99idle, time.Microsecond)), "isolation-ratio")
		})
	}
}

// buildStaircase builds the staircase command once for the benchmark.
func buildStaircase(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "staircase")
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goCmd); err != nil {
		goCmd = "go"
	}
	out, err := exec.Command(goCmd, "build", "-o", bin, "github.com/staircase/staircase").CombinedOutput()
	if err != nil {
		b.Fatalf("build staircase: %v\n%s", err, out)
	}
	return bin
}

// startIsolated starts stage 3 in mode ("all": one process; "split": web
// on core 0, the write side on core 1) on fresh databases and a fresh bus
// namespace, and returns the clients of its web processes for queries and
// for commands (the same process in mode "all").
func startIsolated(b *testing.B, bin, taskset, mode string) (reads, writes *Client) {
	b.Helper()
	natsURL, namespace := natstest.Shared(b)
	common := []string{"serve", "--stage", "3", "--command-bus", "async", "--nats-url", natsURL,
		"--write-db", sqltest.Postgres(b), "--read-db", sqltest.Postgres(b)}
	env := append(os.Environ(), "STAIRCASE_BUS_NAMESPACE="+namespace)
	start := func(cpu string, args ...string) string {
		addr := freeAddr(b)
		var cmd *exec.Cmd
		all := append(append(append([]string(nil), common...), args...), "--addr", addr, "--data-dir", b.TempDir())
		if cpu == "" {
			cmd = exec.Command(bin, all...)
		} else {
			cmd = exec.Command(taskset, append([]string{"-c", cpu, bin}, all...)...)
		}
		cmd.Env = env
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		base := "http://" + addr
		waitFor(b, "the process answers /healthz", 90*time.Second, func() bool {
			res, err := http.Get(base + "/healthz")
			if err != nil {
				return false
			}
			res.Body.Close()
			return res.StatusCode == http.StatusOK
		})
		return base
	}
	client := func(base string) *Client {
		c := NewClient(base, 3, newHTTPClient(64))
		b.Cleanup(c.http.CloseIdleConnections)
		return c
	}
	if mode == "all" {
		c := client(start(""))
		return c, c
	}
	// The write side first: it migrates the databases.
	start("1", "--roles", "commands,relay,projector")
	writes = client(start("1", "--roles", "web"))
	reads = client(start("0", "--roles", "web"))
	return reads, writes
}

func freeAddr(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// queryRate is the pace of the measured queries, all clients together.
const queryRate = 100

// measureIsolation seeds orders, then measures list queries on c for d
// with no writes, and for d while `staircase bench` places orders through
// w as fast as writers clients can (pinned to core 1 in mode "split", with
// the write side, so that the load generator takes no time from the
// queries' core).
func measureIsolation(b *testing.B, bin, taskset, mode string, c, w *Client, d time.Duration, writers int) (idle, loaded Sample, placed int) {
	b.Helper()
	ctx := context.Background()
	for range 300 {
		if r := w.Place(ctx); !r.OK() {
			b.Fatalf("seed: place-order answered %d: %v", r.Status, r.Err)
		}
	}
	// Let the write side apply and project the seed before measuring.
	waitFor(b, "the seed is on the read side", 2*time.Minute, func() bool {
		return listed(ctx, c) >= 300
	})
	b.ResetTimer()
	idle = queries(b, c, d)
	args := []string{bin, "bench", "--addr", w.base, "--duration", (d + 2*time.Second).String(),
		"--concurrency", strconv.Itoa(writers), "--mix", "place=1"}
	if mode == "split" {
		args = append([]string{taskset, "-c", "1"}, args...)
	}
	load := exec.Command(args[0], args[1:]...)
	var out bytes.Buffer
	load.Stdout, load.Stderr = &out, &out
	if err := load.Start(); err != nil {
		b.Fatal(err)
	}
	time.Sleep(time.Second) // the write side saturated before measuring
	loaded = queries(b, c, d)
	if err := load.Wait(); err != nil {
		b.Fatalf("staircase bench: %v\n%s", err, out.String())
	}
	b.StopTimer()
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "place" {
			placed, _ = strconv.Atoi(f[1])
		}
	}
	if placed == 0 {
		b.Fatalf("staircase bench placed no order:\n%s", out.String())
	}
	return idle, loaded, placed
}

// queries sends list queries at queryRate for d and returns their
// latencies; a failed query fails the benchmark.
func queries(b *testing.B, c *Client, d time.Duration) Sample {
	ctx := context.Background()
	var mu sync.Mutex
	var out Sample
	var failed error
	tick := time.NewTicker(time.Second / queryRate)
	defer tick.Stop()
	var wg sync.WaitGroup
	for end := time.Now().Add(d); time.Now().Before(end); <-tick.C {
		wg.Go(func() {
			t0 := time.Now()
			r := c.List(ctx, 20)
			lat := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if !r.OK() {
				failed = fmt.Errorf("list answered %d: %v", r.Status, r.Err)
				return
			}
			out = append(out, lat)
		})
	}
	wg.Wait()
	if failed != nil {
		b.Fatal(failed)
	}
	return out
}

// listed is how many orders the read side has (the dashboard's count).
func listed(ctx context.Context, c *Client) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/queries/dashboard", nil)
	if err != nil {
		return 0
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	var d httpapi.Dashboard
	if json.NewDecoder(res.Body).Decode(&d) != nil {
		return 0
	}
	return d.Orders
}
