package rebuild

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// A new query is a new projection, filled by replaying the change log from
// the beginning: RebuildDashboard does it for the dashboard projection
// alone, into shadow tables swapped in when done, as Rebuild does for the
// order rows (and calls it at its end, so that a full rebuild rebuilds
// both).

// rebuildingDashboard admits one rebuild of the dashboard per process at a
// time: two would drop each other's shadow tables.
var rebuildingDashboard = make(chan struct{}, 1)

// DashboardReport says what a rebuild of the dashboard did.
type DashboardReport struct {
	// Events is how many events of the change log were replayed, Skipped
	// how many were left to the sync (an order changed without events),
	// Parked how many the error log took (unreadable, or refused by the
	// order's rules).
	Events, Skipped, Parked int64
	Elapsed                 time.Duration
}

// String says it for a person.
func (r DashboardReport) String() string {
	rate := 0.0
	if s := r.Elapsed.Seconds(); s > 0 {
		rate = float64(r.Events) / s
	}
	s := fmt.Sprintf("Rebuilt the dashboard from %d events in %s (%.0f events/s)", r.Events, r.Elapsed.Round(10*time.Millisecond), rate)
	if r.Parked > 0 {
		s += fmt.Sprintf("; %d parked in the error log", r.Parked)
	}
	return s
}

// RebuildDashboard builds the dashboard projection afresh: it replays the
// change log into shadow tables (replayer: read by order, folded an order
// at a time in memory with ApplyDashboard's rules, written in bulk), syncs
// them with the database of record for the orders changed without events,
// and — holding lock, the lock the dashboard's consumer takes around each
// event (nil when no consumer runs in this process) — syncs once more,
// adds the figures up from the order rows and swaps them in. Then it syncs
// the live tables once more, for a consumer lock did not hold back. events,
// if not nil, is told how many events were replayed so far, a page at a
// time.
func RebuildDashboard(ctx context.Context, write, read *bun.DB, lock sync.Locker, events func(done int64)) (DashboardReport, error) {
	select {
	case rebuildingDashboard <- struct{}{}:
	case <-ctx.Done():
		return DashboardReport{}, ctx.Err()
	}
	defer func() { <-rebuildingDashboard }()
	start := time.Now()
	var rep DashboardReport
	if err := projection.CreateDashboardShadow(ctx, read); err != nil {
		return rep, fmt.Errorf("create the dashboard's shadow tables: %w", err)
	}
	rp := &replayer{write: write, read: read, label: "dashboard rebuild", dash: projection.NewDashboardFold(projection.DashboardShadow),
		entry: func(skipped, parked bool) {
			rep.Events++
			if skipped {
				rep.Skipped++
			}
			if parked {
				rep.Parked++
			}
		},
		page: func() {
			if events != nil {
				events(rep.Events)
			}
		}}
	if err := rp.run(ctx); err != nil {
		return rep, err
	}
	if err := projection.ReconcileDashboard(ctx, write, read, projection.DashboardShadow); err != nil {
		return rep, fmt.Errorf("sync the dashboard's shadow tables: %w", err)
	}
	err := func() error {
		if lock != nil {
			lock.Lock()
			defer lock.Unlock()
		}
		return swapDashboard(ctx, write, read)
	}()
	if err != nil {
		return rep, err
	}
	if err := projection.ReconcileDashboard(ctx, write, read, projection.DashboardLive); err != nil {
		return rep, fmt.Errorf("sync the dashboard after the swap: %w", err)
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// swapDashboard syncs the dashboard's shadow tables a last time, adds up
// their figures and puts them in place; the caller holds the consumer's
// lock.
func swapDashboard(ctx context.Context, write, read *bun.DB) error {
	if err := projection.ReconcileDashboard(ctx, write, read, projection.DashboardShadow); err != nil {
		return fmt.Errorf("sync the dashboard's shadow tables: %w", err)
	}
	if err := projection.RecountDashboard(ctx, read, projection.DashboardShadow); err != nil {
		return err
	}
	if err := projection.SwapDashboardShadow(ctx, read); err != nil {
		return fmt.Errorf("swap in the rebuilt dashboard: %w", err)
	}
	return nil
}

// DashboardSyncer fills a gap in the dashboard's events, for its consumer:
// the versions between the dashboard's and an event's are taken from the
// change log when it has them all (their messages are merely late: the
// change log is written with the change, so a committed event's
// predecessors are committed), or, when some were written without events
// (by stages 0–2), the order is brought up to the database of record.
type DashboardSyncer struct {
	// Write is the database of record, Read the read database.
	Write, Read *bun.DB
}

// FillGap brings the dashboard's row of e's order up to just before e (or
// past it), and reports whether it did.
func (s DashboardSyncer) FillGap(ctx context.Context, e order.Event) (bool, error) {
	history, err := changelog.ForOrder(ctx, s.Write, e.OrderID)
	if err != nil {
		return false, err
	}
	stored, err := projection.DashboardVersion(ctx, s.Read, e.OrderID)
	if err != nil {
		return false, err
	}
	byVersion := map[int]order.Event{}
	newest := e.OrderVersion
	for _, h := range history {
		byVersion[h.OrderVersion] = h
		newest = max(newest, h.OrderVersion)
	}
	complete := true
	for v := stored + 1; v < e.OrderVersion; v++ {
		if _, ok := byVersion[v]; !ok {
			complete = false
			break
		}
	}
	if !complete {
		return true, projection.SyncDashboardOrder(ctx, s.Write, s.Read, e.OrderID, newest)
	}
	for v := stored + 1; v < e.OrderVersion; v++ {
		if _, err := projection.ApplyDashboard(ctx, s.Read, projection.DashboardLive, byVersion[v]); err != nil {
			if errors.Is(err, projection.ErrGap) {
				return false, nil // another writer moved the row meanwhile: try again
			}
			return false, err
		}
	}
	return true, nil
}
