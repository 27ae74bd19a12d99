package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
)

// BenchmarkReadIsolation measures how much writes slow reads down, stage 0
// beside stage 3: the p99 of the orders list's first page read by one
// client with nothing else running (idle-p99-ms), then while benchClients
// other clients place orders as fast as the server takes them
// (loaded-p99-ms), for STAIRCASE_BENCH_SECONDS each, with listSeed orders
// present. loaded/idle is the slow-down: CQRS's separate read side should
// keep it lower in stage 3 than in stage 0, where reads and writes share
// the tables. Run it with -benchtime 1x.
func BenchmarkReadIsolation(b *testing.B) {
	d := runSeconds(b)
	for _, stage := range []int{0, 3} {
		for _, be := range sqltest.Backends() {
			b.Run(stageName(stage)+"/db="+be.Name, func(b *testing.B) {
				var idle, loaded time.Duration
				for b.Loop() {
					s := startServer(b, stage, be)
					seedThroughAPI(b, s, listSeed)
					reader := NewClient(s.base, stage, newHTTPClient(2))
					defer reader.http.CloseIdleConnections()
					read := func(ctx context.Context) error {
						if r := reader.List(ctx, order.DefaultPage); !r.OK() {
							return r.Err
						}
						return nil
					}
					idle = closedLoop(b, 1, d, read).latencies.Percentile(99)

					var wg sync.WaitGroup
					var writes loopResult
					wg.Add(1)
					go func() {
						defer wg.Done()
						writes = closedLoopGo(b, benchClients, d, placeWith(s.client))
					}()
					loaded = closedLoop(b, 1, d, read).latencies.Percentile(99)
					wg.Wait()
					if b.Failed() {
						b.FailNow()
					}
					if writes.ok == 0 {
						b.Fatal(fmt.Errorf("no write went through while reading"))
					}
					s.stop()
				}
				b.ReportMetric(Millis(idle), "idle-p99-ms")
				b.ReportMetric(Millis(loaded), "loaded-p99-ms")
				b.ReportMetric(float64(loaded)/float64(idle), "loaded/idle")
			})
		}
	}
}
