package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// The benchmarks start the whole app in process and talk HTTP over
// loopback, one client sending one request after another: ns/op is the
// latency a user sees, on this machine. Run the stages side by side in one
// run (make bench) and compare them as ratios to stage 0; the absolute
// numbers only mean something next to each other.

// forEachStage runs f as a sub-benchmark per stage and backend
// (stageN/sqlite, and stageN/postgres when STAIRCASE_TEST_POSTGRES is set).
func forEachStage(b *testing.B, f func(b *testing.B, s *server)) {
	for stage := range 4 {
		for _, be := range sqltest.Backends() {
			b.Run(stageName(stage)+"/db="+be.Name, func(b *testing.B) {
				f(b, startServer(b, stage, be))
			})
		}
	}
}

// BenchmarkPlaceOrder places a new order per operation.
func BenchmarkPlaceOrder(b *testing.B) {
	forEachStage(b, func(b *testing.B, s *server) {
		ctx := context.Background()
		for b.Loop() {
			if r := s.client.Place(ctx); !r.OK() {
				b.Fatal(r.Err)
			}
		}
	})
}

// listSeed is how many orders BenchmarkListOrders lists from.
const listSeed = 1000

// BenchmarkListOrders reads the first page (20) of the orders list with
// 1,000 orders present.
func BenchmarkListOrders(b *testing.B) {
	forEachStage(b, func(b *testing.B, s *server) {
		ctx := context.Background()
		seedThroughAPI(b, s, listSeed)
		for b.Loop() {
			if r := s.client.List(ctx, order.DefaultPage); !r.OK() {
				b.Fatal(r.Err)
			}
		}
	})
}

// seedThroughAPI places n orders with a few clients at once and, in stage
// 3, waits until the read side has them all.
func seedThroughAPI(b *testing.B, s *server, n int) {
	b.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				if r := s.client.Place(ctx); !r.OK() {
					errs <- r.Err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("seed: %v", err)
	}
	if s.client.Stage() == 3 {
		waitFor(b, fmt.Sprintf("the read side to have %d orders", n), 2*time.Minute, func() bool {
			var have int
			err := s.app.ReadDB.NewSelect().TableExpr("?", bun.Ident(projection.Live.Orders)).ColumnExpr("COUNT(*)").Scan(ctx, &have)
			if err != nil {
				b.Fatal(err)
			}
			return have >= n
		})
	}
}

// waitFor polls cond until it holds, for at most limit.
func waitFor(tb testing.TB, what string, limit time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for wait := time.Millisecond; !cond(); wait = min(wait*2, 100*time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up after %s waiting for %s", limit, what)
		}
		time.Sleep(wait)
	}
}
