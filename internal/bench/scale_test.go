package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/messaging/natstest"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
)

// BenchmarkAtScale runs the staircase binary, as a user would, on
// STAIRCASE_BENCH_ORDERS orders (default 100,000; make bench uses
// 1,000,000) made by `staircase seed`, with the change log and stage 3's
// read database emptied as if stages 0–2 had written them:
//
//   - enter-s: from `staircase serve --stage 3` until stage 3 is entered
//     (its read database built from the database of record, /readyz no
//     longer saying it is being entered);
//   - s3-list-p50-ms, s0-list-p50-ms: the orders list's first page read
//     one after the other by one client, stage 3 and then stage 0 on the
//     same data;
//   - rss-MB: the process's largest resident memory while benchClients
//     clients put the default mix of load on stage 3 for
//     STAIRCASE_BENCH_SECONDS (sampled every 100 ms).
//
// STAIRCASE_BENCH_BIN names the binary (make bench builds bin/staircase);
// without it the benchmark builds one. Run it with -benchtime 1x.
func BenchmarkAtScale(b *testing.B) {
	orders := envInt(b, "STAIRCASE_BENCH_ORDERS", 100_000)
	d := runSeconds(b)
	bin := staircaseBinary(b)
	for _, be := range sqltest.Backends() {
		b.Run("db="+be.Name, func(b *testing.B) {
			var enter time.Duration
			var list3, list0 time.Duration
			var rss float64
			for b.Loop() {
				env := []string{"STAIRCASE_DATA_DIR=" + b.TempDir()}
				cfg := app.Config{}
				if be.Name != "sqlite" {
					cfg.WriteDB, cfg.ReadDB = be.URL(b), be.URL(b)
					env = append(env, "STAIRCASE_WRITE_DB="+cfg.WriteDB, "STAIRCASE_READ_DB="+cfg.ReadDB)
					if url, ns := natstest.Shared(b); url != "" {
						env = append(env, "STAIRCASE_NATS_URL="+url, "STAIRCASE_BUS_NAMESPACE="+ns)
					}
				}
				cfg.DataDir = strings.TrimPrefix(env[0], "STAIRCASE_DATA_DIR=")
				seed := exec.Command(bin, "seed", "--orders", strconv.Itoa(orders), "--seed", "1")
				seed.Env = append(os.Environ(), env...)
				if out, err := seed.CombinedOutput(); err != nil {
					b.Fatalf("staircase seed: %v\n%s", err, out)
				}
				emptyChangeLog(b, cfg)

				p := startBinary(b, bin, env, "--stage", "3")
				enter = p.entered(b)
				list3 = listP50(b, p.base, 3)
				rss = p.rssUnderLoad(b, d)
				p.stop(b)

				p = startBinary(b, bin, env, "--stage", "0")
				p.entered(b)
				list0 = listP50(b, p.base, 0)
				p.stop(b)
			}
			b.ReportMetric(float64(orders), "orders")
			b.ReportMetric(enter.Seconds(), "enter-s")
			b.ReportMetric(Millis(list3), "s3-list-p50-ms")
			b.ReportMetric(Millis(list0), "s0-list-p50-ms")
			b.ReportMetric(rss, "rss-MB")
		})
	}
}

// staircaseBinary is STAIRCASE_BENCH_BIN, or a binary built once for the
// run.
func staircaseBinary(b *testing.B) string {
	b.Helper()
	if bin := os.Getenv("STAIRCASE_BENCH_BIN"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "staircase-bench-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "staircase")
		build := exec.Command("go", "build", "-o", binPath, "../..")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build staircase: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return binPath
}

// The binary staircaseBinary built, shared by the benchmarks of a run.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// emptyChangeLog removes every event from the change log, and every order
// from stage 3's read database, leaving the orders: the databases as
// stages 0–2 would have left them, stage 3 never entered.
func emptyChangeLog(b *testing.B, cfg app.Config) {
	b.Helper()
	ctx := context.Background()
	write, err := app.OpenWrite(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer write.Close()
	if _, err := write.NewDelete().TableExpr("change_log").Where("TRUE").Exec(ctx); err != nil {
		b.Fatalf("empty the change log: %v", err)
	}
	read, err := app.OpenRead(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer read.Close()
	for _, table := range []string{"order_history", "order_views", "dashboard_orders", "dashboard_statuses",
		"dashboard_revenue", "dashboard_customers", "dashboard_customer_revenue"} {
		if _, err := read.NewDelete().TableExpr(table).Where("TRUE").Exec(ctx); err != nil {
			b.Fatalf("empty %s: %v", table, err)
		}
	}
}

// process is a staircase serve started by a benchmark.
type process struct {
	cmd     *exec.Cmd
	base    string
	started time.Time
	log     string
	// exited is closed when the process has ended, with waitErr set.
	exited  chan struct{}
	waitErr error
	once    sync.Once
}

// startBinary runs `staircase serve` with env and args on a free port.
func startBinary(b *testing.B, bin string, env []string, args ...string) *process {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logPath := filepath.Join(b.TempDir(), "serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--addr", addr}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p := &process{cmd: cmd, base: "http://" + addr, log: logPath, exited: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	b.Cleanup(func() { p.stop(b) })
	return p
}

// entered waits until the process serves its stage, prepared, and returns
// how long that took from its start.
func (p *process) entered(b *testing.B) time.Duration {
	b.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	deadline := p.started.Add(30 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			b.Fatalf("staircase serve ended: %v\n%s", p.waitErr, p.tail())
		default:
		}
		res, err := hc.Get(p.base + "/readyz")
		if err == nil {
			var body bytes.Buffer
			_, _ = body.ReadFrom(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK && !strings.Contains(body.String(), "being entered") {
				return time.Since(p.started)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatalf("staircase serve not ready after 30 minutes\n%s", p.tail())
	return 0
}

// rssUnderLoad puts load on the process for d and returns its largest
// resident set in MB.
func (p *process) rssUnderLoad(b *testing.B, d time.Duration) float64 {
	b.Helper()
	m, err := ParseMix(DefaultMix)
	if err != nil {
		b.Fatal(err)
	}
	var peak float64
	var mu sync.Mutex
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if mb, err := rssMB(p.cmd.Process.Pid); err == nil {
				mu.Lock()
				peak = max(peak, mb)
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	rep, err := Run(context.Background(), Options{Base: p.base, Duration: d, Concurrency: benchClients, Mix: m})
	close(stop)
	<-sampled
	if err != nil {
		b.Fatal(err)
	}
	if rep.Errors() > 0 {
		b.Fatalf("%d of %d operations failed under load", rep.Errors(), rep.Total())
	}
	return peak
}

// rssMB reads a process's resident set size (VmRSS) in MB.
func rssMB(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// stop ends the process gracefully (SIGTERM), at most once.
func (p *process) stop(b *testing.B) {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
			b.Errorf("staircase serve did not stop within 30 s of SIGTERM\n%s", p.tail())
		}
	})
}

// tail is the end of the process's log.
func (p *process) tail() string {
	raw, _ := os.ReadFile(p.log)
	return string(raw[max(0, len(raw)-3000):])
}

// listSamples is how many list reads listP50 makes.
const listSamples = 200

// listP50 reads the orders list's first page listSamples times, one
// after the other, and returns the median latency.
func listP50(b *testing.B, base string, stage int) time.Duration {
	b.Helper()
	c := NewClient(base, stage, newHTTPClient(2))
	defer c.http.CloseIdleConnections()
	var lat Sample
	for range listSamples {
		t0 := time.Now()
		if r := c.List(context.Background(), order.DefaultPage); !r.OK() {
			b.Fatalf("list: %v", r.Err)
		}
		lat = append(lat, time.Since(t0))
	}
	return lat.Percentile(50)
}
