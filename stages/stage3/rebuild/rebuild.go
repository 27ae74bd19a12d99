package rebuild

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/command"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// Phase is a step of a rebuild.
type Phase string

// The phases of a rebuild, in order.
const (
	// PhaseReplaying: the change log's events are applied to the shadow
	// tables, oldest first.
	PhaseReplaying Phase = "replaying events"
	// PhaseSyncing: the shadow tables are brought up to the database of
	// record, for the orders that changed without events (stages 0–2).
	PhaseSyncing Phase = "syncing orders"
	// PhaseSwapping: the events and changes that arrived meanwhile are
	// caught up and the shadow tables take the live ones' place.
	PhaseSwapping Phase = "swapping"
	// PhaseDone: the rebuilt tables are live.
	PhaseDone Phase = "done"
)

// Progress is how far a rebuild is.
type Progress struct {
	Phase Phase
	// Done and Total count the current phase's items: events while
	// replaying, orders while syncing. Total is counted at the start of the
	// phase and raised if more arrive.
	Done, Total int64
	// Events is how many events were replayed so far, Skipped how many of
	// them were left to the sync (an order changed without events, so its
	// log has gaps), Parked how many were parked in the error log (a row
	// this code cannot read, an event the order's rules refuse), Orders
	// how many orders the sync went through.
	Events, Skipped, Parked, Orders int64
	// Elapsed is the time since the rebuild started; Rate the current
	// phase's items per second (events/s for a finished rebuild).
	Elapsed time.Duration
	Rate    float64
}

// Fraction is how far the rebuild is as a whole, from 0 to 1: replaying
// weighs as much as syncing, swapping is the last step.
func (p Progress) Fraction() float64 {
	part := 0.0
	if p.Total > 0 {
		part = min(float64(p.Done)/float64(p.Total), 1)
	}
	switch p.Phase {
	case PhaseReplaying:
		return 0.5 * part
	case PhaseSyncing:
		return 0.5 + 0.45*part
	case PhaseSwapping:
		return 0.95
	case PhaseDone:
		return 1
	}
	return 0
}

// String says where the rebuild is, for a person: "replaying events
// 1200/5000 (3100/s)", and when done "Rebuilt 5000 events, 900 orders in
// 2.1s (2400 events/s)".
func (p Progress) String() string {
	if p.Phase == PhaseDone {
		s := fmt.Sprintf("Rebuilt %d events, %d orders in %s (%.0f events/s)",
			p.Events, p.Orders, p.Elapsed.Round(10*time.Millisecond), p.Rate)
		if p.Parked > 0 {
			s += fmt.Sprintf("; %d parked in the error log", p.Parked)
		}
		return s
	}
	s := string(p.Phase)
	if p.Phase == PhaseSwapping {
		s = "catching up and swapping in the rebuilt tables"
	}
	if p.Total > 0 {
		s += fmt.Sprintf(" %d/%d", p.Done, p.Total)
		if p.Rate > 0 {
			s += fmt.Sprintf(" (%.0f/s)", p.Rate)
		}
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// ErrRebuildRunning is the error of a rebuild asked for while another runs
// in this process: a conflict, which the API answers with 409.
var ErrRebuildRunning = order.Errorf(order.ECONFLICT, "a rebuild of the read database is already running")

// rebuilding admits one rebuild per process at a time: two would drop each
// other's shadow tables.
var rebuilding = make(chan struct{}, 1)

// reportEvery bounds how often progress is reported within a phase.
const reportEvery = 100 * time.Millisecond

// Rebuild builds stage 3's read tables — the order rows and the dashboard
// — afresh from the database of record into shadow tables and swaps them
// in, while the live tables go on serving reads:
//
//  1. replay the change log into the shadow tables (replayer: read by
//     order, on PostgreSQL the events committed when it starts; folded an
//     order at a time in memory, each projection with its own rules, and
//     written in bulk into tables without their secondary indexes, which
//     are built at the end); events of an order whose log has gaps (it
//     changed while stages 0–2 were active, which record no events) are
//     skipped — the sync covers them; a row this code cannot read (a newer
//     schema) or an event the order's rules refuse is parked in the error
//     log, as the relay and the projector park them, and counted
//     (Progress.Parked);
//  2. sync the shadow tables with the database of record's orders
//     (projection.Reconcile, projection.ReconcileDashboard): changes
//     without events, deletions, and what arrived since the replay's start;
//  3. catch up and swap: holding lock (the projector's and the dashboard
//     consumer's, so that no event is applied to the live tables
//     meanwhile), sync once more, add up the dashboard's figures and swap
//     the shadow tables in;
//  4. with lock released, sync the live tables once more: a projector that
//     lock did not hold back (another process's) may have written to the
//     tables just dropped.
//
// lock may be nil when no projector runs in this process (the CLI). Only one
// rebuild runs per process at a time; another one fails with
// ErrRebuildRunning. progress, if not nil, is called as it goes and last
// with PhaseDone.
func Rebuild(ctx context.Context, write, read *bun.DB, lock sync.Locker, progress func(Progress)) error {
	select {
	case rebuilding <- struct{}{}:
	default:
		return ErrRebuildRunning
	}
	defer func() { <-rebuilding }()
	return rebuild(ctx, write, read, lock, progress)
}

// rebuilder is one rebuild's state.
type rebuilder struct {
	write, read *bun.DB
	progress    func(Progress)
	start       time.Time
	p           Progress
	phaseStart  time.Time
	phaseDone   int64 // Done when the current phase started
	lastReport  time.Time
}

func rebuild(ctx context.Context, write, read *bun.DB, lock sync.Locker, progress func(Progress)) error {
	// The dashboard is rebuilt with the order rows: no rebuild of it alone
	// may run meanwhile.
	select {
	case rebuildingDashboard <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-rebuildingDashboard }()
	now := time.Now()
	r := &rebuilder{write: write, read: read, progress: progress, start: now}
	total, err := changelog.Count(ctx, write)
	if err != nil {
		return err
	}
	if err := projection.CreateBareShadow(ctx, read); err != nil {
		return fmt.Errorf("create the shadow tables: %w", err)
	}
	if err := projection.CreateDashboardShadow(ctx, read); err != nil {
		return fmt.Errorf("create the dashboard's shadow tables: %w", err)
	}
	r.phase(PhaseReplaying, total)
	rp := &replayer{write: write, read: read, label: "rebuild",
		orders: projection.NewFold(projection.Shadow), dash: projection.NewDashboardFold(projection.DashboardShadow),
		entry: r.replayed}
	if err := rp.run(ctx); err != nil {
		return err
	}
	if err := projection.IndexShadow(ctx, read); err != nil {
		return fmt.Errorf("index the shadow tables: %w", err)
	}
	r.phase(PhaseSyncing, 0)
	// The order rows and the dashboard are synced in one pass over the
	// database of record (projection.ReconcileWithDashboard), as on
	// entering the stage.
	if err := projection.ReconcileWithDashboard(ctx, write, read, projection.Shadow, projection.DashboardShadow, r.synced); err != nil {
		return fmt.Errorf("sync the shadow tables: %w", err)
	}
	r.phase(PhaseSwapping, 0)
	if err := r.swap(ctx, lock); err != nil {
		return err
	}
	if err := projection.ReconcileWithDashboard(ctx, write, read, projection.Live, projection.DashboardLive, nil); err != nil {
		return fmt.Errorf("sync the read tables after the swap: %w", err)
	}
	r.p.Phase, r.p.Done, r.p.Total = PhaseDone, r.p.Events, r.p.Events
	r.report(true)
	return nil
}

// swap syncs the shadow tables a last time and puts them in place, holding
// lock: the live tables then have nothing the shadow ones lack.
func (r *rebuilder) swap(ctx context.Context, lock sync.Locker) error {
	if lock != nil {
		lock.Lock()
		defer lock.Unlock()
	}
	if err := projection.Reconcile(ctx, r.write, r.read, projection.Shadow, nil); err != nil {
		return fmt.Errorf("sync the shadow tables: %w", err)
	}
	if err := projection.SwapShadow(ctx, r.read); err != nil {
		return fmt.Errorf("swap in the rebuilt tables: %w", err)
	}
	return swapDashboard(ctx, r.write, r.read)
}

// replayed counts an entry of the replay.
func (r *rebuilder) replayed(skipped, parked bool) {
	r.p.Events++
	r.p.Done++
	r.p.Total = max(r.p.Total, r.p.Done)
	if skipped {
		r.p.Skipped++
	}
	if parked {
		r.p.Parked++
	}
	r.report(false)
}

// skippable tells whether a replayed event may be left to the sync with the
// database of record: a gap (versions changed without events). Other
// errors — the database's — stop the rebuild, but for refused ones.
func skippable(err error) bool {
	return errors.Is(err, projection.ErrGap)
}

// refused tells whether the order's rules refuse an event (the projector
// would have parked it after its retries): the rebuild parks it.
func refused(err error) bool {
	var de *order.Error
	return errors.Is(err, projection.ErrRefused) || errors.As(err, &de)
}

// synced is Reconcile's progress.
func (r *rebuilder) synced(done, total int64) {
	r.p.Done, r.p.Total, r.p.Orders = done, total, done
	r.report(done == total)
}

// phase starts a phase of total items.
func (r *rebuilder) phase(p Phase, total int64) {
	r.p.Phase, r.p.Done, r.p.Total = p, 0, total
	r.phaseStart = time.Now()
	r.report(true)
}

// report calls progress, at most every reportEvery unless forced.
func (r *rebuilder) report(force bool) {
	if r.progress == nil {
		return
	}
	now := time.Now()
	if !force && now.Sub(r.lastReport) < reportEvery {
		return
	}
	r.lastReport = now
	r.p.Elapsed = now.Sub(r.start)
	since := now.Sub(r.phaseStart)
	if r.p.Phase == PhaseDone {
		since = r.p.Elapsed
	}
	r.p.Rate = 0
	if s := since.Seconds(); s > 0 {
		r.p.Rate = float64(r.p.Done) / s
	}
	r.progress(r.p)
}

// Behind tells whether the read database is so far behind the database of
// record that entering stage 3 should rebuild it rather than sync it: it
// has no orders while the database of record has orders and events (a new
// or dropped read database), or it lacks more of the change log's events
// than a projector that is merely busy would. It counts rows on both sides,
// which is cheap next to a rebuild; orders that changed without events are
// not its concern — the sync on entering covers them.
func Behind(ctx context.Context, write, read *bun.DB) (bool, error) {
	events, err := changelog.Count(ctx, write)
	if err != nil {
		return false, err
	}
	if events == 0 {
		return false, nil // nothing to replay: the sync does it all
	}
	projecting, err := read.NewSelect().TableExpr("?", bun.Ident(projection.Live.Orders)).Exists(ctx)
	if err != nil {
		return false, fmt.Errorf("look at the read tables: %w", err)
	}
	if !projecting {
		orders, err := write.NewSelect().Model((*command.Order)(nil)).Exists(ctx)
		if err != nil {
			return false, fmt.Errorf("look at the orders: %w", err)
		}
		return orders, nil
	}
	var projected int64
	if err := read.NewRaw("SELECT COUNT(*) FROM ? WHERE type <> ?", bun.Ident(projection.Live.History), projection.SyncedType).
		Scan(ctx, &projected); err != nil {
		return false, fmt.Errorf("count the projected events: %w", err)
	}
	return events-projected > behindSlack+events/20, nil
}

// behindSlack is how many events the read side may lack without a rebuild:
// what a busy projector (or a relay held back) has in flight, plus events
// left out for good (an order changed while stages 0–2 were active is
// synced past them).
const behindSlack = 200

// RWLocker is the projector's lock (a *sync.RWMutex will do): taken for
// reading beside the projector, exclusively between two of its events.
type RWLocker interface {
	sync.Locker
	RLock()
	RUnlock()
}

// Enter brings the read database up to date before stage 3 becomes active:
// a rebuild when it is behind (Behind), otherwise a sync of the order rows
// and the dashboard with the database of record, in one pass
// (projection.ReconcileWithDashboard), holding the projector's lock mu for
// reading so that no rebuild swaps the tables meanwhile. It waits for a
// rebuild that is already running (say from the UI's button) rather than
// failing, then decides again. progress is called with how far it is, in
// thousandths while rebuilding.
func Enter(ctx context.Context, write, read *bun.DB, mu RWLocker, log *slog.Logger, progress func(done, total int64)) error {
	select {
	case rebuilding <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-rebuilding }()
	behind, err := Behind(ctx, write, read)
	if err != nil {
		return err
	}
	if behind {
		log.InfoContext(ctx, "stage 3: the read database is behind; rebuilding it")
		return rebuild(ctx, write, read, mu, func(p Progress) {
			if progress != nil {
				progress(int64(p.Fraction()*1000), 1000)
			}
		})
	}
	mu.RLock()
	defer mu.RUnlock()
	if err := projection.ReconcileWithDashboard(ctx, write, read, projection.Live, projection.DashboardLive, progress); err != nil {
		return fmt.Errorf("sync the read database: %w", err)
	}
	return nil
}
