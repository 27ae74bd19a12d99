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
	"github.com/staircase/staircase/stages/stage3/errorlog"
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
// change log into shadow tables (folded in memory a chunk at a time, with
// ApplyDashboard's rules), syncs them with the database of record for the
// orders changed without events, adds the figures up from the order rows,
// and — holding lock, the lock the dashboard's consumer takes around each
// event (nil when no consumer runs in this process) — syncs once more,
// recounts and swaps them in. Then it syncs the live tables once more, for
// a consumer lock did not hold back. events, if not nil, is told of each
// event replayed.
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
	if err := replayDashboard(ctx, write, read, &rep, events); err != nil {
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

// replayDashboard folds the change log into the dashboard's shadow order
// rows, replayChunk events per transaction.
func replayDashboard(ctx context.Context, write, read *bun.DB, rep *DashboardReport, events func(int64)) error {
	chunk := make([]changelog.Entry, 0, replayChunk)
	fold := projection.NewDashboardFold(projection.DashboardShadow)
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		ids := make([]order.ID, 0, len(chunk))
		for _, e := range chunk {
			ids = append(ids, e.Event.OrderID)
		}
		err := read.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			if err := fold.Load(ctx, tx, ids); err != nil {
				return err
			}
			for _, en := range chunk {
				rep.Events++
				if en.Err != nil {
					if err := errorlog.SetAside(ctx, tx, en, fmt.Errorf("dashboard rebuild: %w", en.Err)); err != nil {
						return err
					}
					rep.Parked++
					continue
				}
				_, err := fold.Apply(en.Event)
				switch {
				case err == nil:
				case skippable(err):
					rep.Skipped++
				case refused(err):
					if err := errorlog.SetAside(ctx, tx, en, fmt.Errorf("dashboard rebuild: %w", err)); err != nil {
						return err
					}
					rep.Parked++
				default:
					return fmt.Errorf("replay %s v%d of order %s onto the dashboard: %w", en.Event.Type, en.Event.OrderVersion, en.Event.OrderID, err)
				}
			}
			return fold.Flush(ctx, tx)
		})
		chunk = chunk[:0]
		fold = projection.NewDashboardFold(projection.DashboardShadow)
		if err == nil && events != nil {
			events(rep.Events)
		}
		return err
	}
	err := changelog.Each(ctx, write, func(e changelog.Entry) error {
		chunk = append(chunk, e)
		if len(chunk) == replayChunk {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
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
