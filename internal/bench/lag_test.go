package bench

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// BenchmarkProjectionLag measures how far stage 3's read side trails its
// write side (sync command bus). It first measures the write side's
// maximum rate (max-writes/s: benchClients clients placing orders as fast
// as they are answered, for STAIRCASE_BENCH_SECONDS), then places orders
// at a steady half of it and at all of it (open loop) and measures, for
// each, the time from the command's ack to the moment the read database
// holds the acked version: half-p50-ms, half-p99-ms, full-p50-ms,
// full-p99-ms. Last comes a burst at the maximum rate (closed loop, as
// long again), and drain-ms, the time from the burst's last ack until the
// read side has every order of it. Run it with -benchtime 1x.
//
// The read side is watched by one goroutine that reads the versions of the
// orders still awaited straight from the read database — not through the
// API, whose reads would add load of their own — every millisecond, or
// four times as long as its last read took when the backlog makes reads
// slow: lags are resolved to a millisecond or so while the watching takes
// at most a fifth of a core from the system it measures.
func BenchmarkProjectionLag(b *testing.B) {
	d := runSeconds(b)
	for _, be := range sqltest.Backends() {
		b.Run("db="+be.Name, func(b *testing.B) {
			var maxRate float64
			var half, full Sample
			var drain time.Duration
			for b.Loop() {
				s := startServer(b, 3, be)
				// Warm up: connections, statements, consumers.
				measureLag(b, s, 50, 20)
				w := burst(b, s, d)
				maxRate = w.rate()
				half, _ = measureLag(b, s, max(int(maxRate/2), 1), max(int(maxRate/2*d.Seconds()), 10))
				full, _ = measureLag(b, s, max(int(maxRate), 1), max(int(maxRate*d.Seconds()), 10))
				drain = burst(b, s, d).drain
				s.stop()
			}
			b.ReportMetric(maxRate, "max-writes/s")
			b.ReportMetric(Millis(half.Percentile(50)), "half-p50-ms")
			b.ReportMetric(Millis(half.Percentile(99)), "half-p99-ms")
			b.ReportMetric(Millis(full.Percentile(50)), "full-p50-ms")
			b.ReportMetric(Millis(full.Percentile(99)), "full-p99-ms")
			b.ReportMetric(Millis(drain), "drain-ms")
		})
	}
}

// burstResult is a burst of writes and how the read side followed it.
type burstResult struct {
	loopResult
	// drain is the time from the burst's last ack until the read side had
	// every order it placed.
	drain time.Duration
}

// burst places orders from benchClients clients as fast as they are
// answered for d, and waits until the read side has them all.
func burst(b *testing.B, s *server, d time.Duration) burstResult {
	b.Helper()
	acks := make(chan awaited, 1024)
	var lastSeen time.Time
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		_, lastSeen = watchReadSide(b, s.app.ReadDB, acks)
	}()
	r := closedLoop(b, benchClients, d, func(ctx context.Context) error {
		res := s.client.Place(ctx)
		if !res.OK() {
			return res.Err
		}
		acks <- awaited{id: res.ID, version: res.Version, acked: time.Now()}
		return nil
	})
	close(acks)
	<-watched
	if b.Failed() {
		b.FailNow()
	}
	return burstResult{loopResult: r, drain: max(lastSeen.Sub(r.lastDone), 0)}
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
		lags, _ = watchReadSide(b, s.app.ReadDB, acks)
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
// and returns the lags and when the last awaited version was seen.
func watchReadSide(b *testing.B, read *bun.DB, acks <-chan awaited) (Sample, time.Time) {
	ctx := context.Background()
	waiting := map[order.ID]awaited{}
	var lags Sample
	var lastSeen time.Time
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
			return lags, lastSeen
		}
		now := time.Now()
		for _, r := range rows {
			if a, ok := waiting[r.ID]; ok && r.Version >= a.version {
				lags = append(lags, now.Sub(a.acked))
				lastSeen = now
				delete(waiting, r.ID)
			}
		}
		if !open && len(waiting) > 0 && now.Sub(lastAck) > 2*time.Minute {
			b.Errorf("%d orders not on the read side 2 minutes after the last ack", len(waiting))
			return lags, lastSeen
		}
		time.Sleep(max(lagPoll, 4*now.Sub(t0)))
	}
	return lags, lastSeen
}
