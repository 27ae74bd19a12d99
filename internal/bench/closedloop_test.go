package bench

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"
)

// benchClients is how many connections the closed-loop measurements use,
// each sending its next request when the last one is answered.
const benchClients = 8

// runSeconds is how long each closed-loop measurement runs:
// STAIRCASE_BENCH_SECONDS, default 5.
func runSeconds(tb testing.TB) time.Duration {
	return time.Duration(envInt(tb, "STAIRCASE_BENCH_SECONDS", 5)) * time.Second
}

// loopResult is what a closed loop did: the operations that succeeded,
// how long it ran and each successful operation's latency.
type loopResult struct {
	ok        int
	elapsed   time.Duration
	latencies Sample
	// lastDone is when the last operation was answered.
	lastDone time.Time
}

// rate is successful operations per second.
func (r loopResult) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

// closedLoop runs op from clients goroutines at once, each one after the
// other, for d; an op that fails (returns an error) ends the loop and
// tb. Call it from the test's goroutine; closedLoopGo from another.
func closedLoop(tb testing.TB, clients int, d time.Duration, op func(ctx context.Context) error) loopResult {
	tb.Helper()
	r := closedLoopGo(tb, clients, d, op)
	if tb.Failed() {
		tb.FailNow()
	}
	return r
}

// closedLoopGo is closedLoop that marks tb failed (tb.Errorf) rather than
// ending it, so that it may run on a goroutine of its own.
func closedLoopGo(tb testing.TB, clients int, d time.Duration, op func(ctx context.Context) error) loopResult {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var (
		mu  sync.Mutex
		res loopResult
		wg  sync.WaitGroup
		bad error
	)
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat Sample
			ok := 0
			var last time.Time
			for ctx.Err() == nil {
				t0 := time.Now()
				err := op(context.Background())
				if err != nil {
					mu.Lock()
					bad = err
					mu.Unlock()
					cancel()
					break
				}
				last = time.Now()
				lat = append(lat, last.Sub(t0))
				ok++
			}
			mu.Lock()
			res.ok += ok
			res.latencies = append(res.latencies, lat...)
			if last.After(res.lastDone) {
				res.lastDone = last
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if bad != nil {
		tb.Errorf("closed loop: %v", bad)
	}
	return res
}

// countRows counts a table's rows.
func countRows(tb testing.TB, db *bun.DB, table string) int {
	tb.Helper()
	n, err := db.NewSelect().TableExpr("?", bun.Ident(table)).Count(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return int(n)
}
