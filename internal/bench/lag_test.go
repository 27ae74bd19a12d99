package bench

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// BenchmarkProjectionLag places orders in stage 3 at a steady rate and
// measures, for each, the time from the command's ack to the moment the
// read database holds the acked version: p50-ms, p99-ms and max-ms, with
// the rate achieved (orders/s). Every iteration places
// STAIRCASE_BENCH_LAG_ORDERS orders (default 500) per rate; run it with
// -benchtime 1x.
//
// The read side is watched by one goroutine that reads the versions of the
// orders still awaited straight from the read database — not through the
// API, whose reads would add load of their own — every millisecond, or
// four times as long as its last read took when the backlog makes reads
// slow: lags are resolved to a millisecond or so while the watching takes
// at most a fifth of a core from the system it measures.
func BenchmarkProjectionLag(b *testing.B) {
	count := envInt(b, "STAIRCASE_BENCH_LAG_ORDERS", 500)
	for _, rate := range []int{50, 200} {
		for _, be := range sqltest.Backends() {
			b.Run("rate"+strconv.Itoa(rate)+"/"+be.Name, func(b *testing.B) {
				s := startServer(b, 3, be)
				// Warm up: connections, statements, consumers.
				measureLag(b, s, 50, 20)
				var lags Sample
				var placed int
				var placing time.Duration
				for b.Loop() {
					l, d := measureLag(b, s, rate, count)
					lags = append(lags, l...)
					placing += d
					placed += count
				}
				b.ReportMetric(Millis(lags.Percentile(50)), "p50-ms")
				b.ReportMetric(Millis(lags.Percentile(99)), "p99-ms")
				b.ReportMetric(Millis(lags.Percentile(100)), "max-ms")
				b.ReportMetric(float64(placed)/placing.Seconds(), "orders/s")
			})
		}
	}
}

// awaited is a command whose version the read side has yet to show.
type awaited struct {
	id      order.ID
	version int
	acked   time.Time
}

// maxInFlight bounds the commands sent and not answered: a server slower
// than the rate makes the rate drop rather than pile up requests.
const maxInFlight = 64

// measureLag places count orders at rate per second (open loop: one is sent
// every 1/rate whether or not the earlier ones were answered) and returns
// their lags, and how long placing them took (from the first send to the
// last ack).
func measureLag(b *testing.B, s *server, rate, count int) (Sample, time.Duration) {
	b.Helper()
	ctx := context.Background()
	acks := make(chan awaited, count)
	var lags Sample
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		lags = watchReadSide(b, s.app.ReadDB, acks)
	}()
	interval := time.Second / time.Duration(rate)
	slots := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	var failed sync.Once
	start := time.Now()
	next := start
	for range count {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		next = next.Add(interval)
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			r := s.client.Place(ctx)
			acked := time.Now()
			if !r.OK() {
				failed.Do(func() { b.Errorf("place order: %v", r.Err) })
				return
			}
			acks <- awaited{id: r.ID, version: r.Version, acked: acked}
		}()
	}
	wg.Wait()
	placing := time.Since(start)
	close(acks)
	<-watched
	if b.Failed() {
		b.FailNow()
	}
	return lags, placing
}

// lagPoll is how often the read side is read while versions are awaited.
const lagPoll = time.Millisecond

// watchReadSide reads the versions of the awaited orders from the read
// database until every one shows the version acked and acks is closed,
// and returns the lags.
func watchReadSide(b *testing.B, read *bun.DB, acks <-chan awaited) Sample {
	ctx := context.Background()
	waiting := map[order.ID]awaited{}
	var lags Sample
	open := true
	var lastAck time.Time
	add := func(a awaited) {
		waiting[a.id] = a
		lastAck = a.acked
	}
	for open || len(waiting) > 0 {
		if len(waiting) == 0 {
			a, ok := <-acks // nothing to poll for: wait for an ack
			if !ok {
				open = false
				continue
			}
			add(a)
		}
		for more := open; more; {
			select {
			case a, ok := <-acks:
				if ok {
					add(a)
				} else {
					open, more = false, false
				}
			default:
				more = false
			}
		}
		ids := make([]uuid.UUID, 0, len(waiting))
		for id := range waiting {
			ids = append(ids, id)
		}
		t0 := time.Now()
		var rows []struct {
			ID      uuid.UUID `bun:"id"`
			Version int       `bun:"version"`
		}
		err := read.NewSelect().TableExpr("?", bun.Ident(projection.Live.Orders)).Column("id", "version").
			Where("id IN (?)", bun.In(ids)).Scan(ctx, &rows)
		if err != nil {
			b.Errorf("read versions: %v", err)
			return lags
		}
		now := time.Now()
		for _, r := range rows {
			if a, ok := waiting[r.ID]; ok && r.Version >= a.version {
				lags = append(lags, now.Sub(a.acked))
				delete(waiting, r.ID)
			}
		}
		if !open && len(waiting) > 0 && now.Sub(lastAck) > 2*time.Minute {
			b.Errorf("%d orders not on the read side 2 minutes after the last ack", len(waiting))
			return lags
		}
		time.Sleep(max(lagPoll, 4*now.Sub(t0)))
	}
	return lags
}
