package rebuild

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// Syncer fills, for the projector (its GapFiller), a gap that no event
// will fill: an order changed while stages 0–2 were active, which record no
// events, is brought up to the database of record — reconcile, for one
// order.
type Syncer struct {
	// Write is the database of record, Read the read database.
	Write, Read *bun.DB
}

// FillGap brings e's order up to the database of record when the change
// log lacks the versions between the read side and e, and reports whether
// it did; a true gap (the missing events are on their way) it leaves
// alone.
func (p Syncer) FillGap(ctx context.Context, e order.Event) (bool, error) {
	history, err := changelog.ForOrder(ctx, p.Write, e.OrderID)
	if err != nil {
		return false, err
	}
	// Only a record that has come as far as e can fill the gap before it.
	// An order the record knows at a lower version has a true gap.
	recorded, found, err := recordedVersion(ctx, p.Write, e.OrderID, history)
	if err != nil {
		return false, err
	}
	stored, _, err := projection.NewReadModel(p.Read).Version(ctx, e.OrderID)
	if err != nil {
		return false, err
	}
	// An order that the change log knows but neither the record nor the
	// read side has was deleted after e (an event is relayed only once
	// committed) before any sync saw it: by a stage that records no events,
	// or by a deletion still on its way. Its missing versions will never
	// come as events, and no sync brings what is gone: a tombstone, which
	// shows nothing, keeps its events no-ops instead of parking them. (An
	// order the read side shows is left alone: hiding it is a sync's
	// decision.)
	//
	// Unless the change log has every version before e: then they are on
	// their way as events (the relay sends in commit order, so they left
	// before e), held by another projector or by one that died with them
	// unacknowledged, and the gap is a true one.
	if stored == 0 && len(history) > 0 && !logged(history, 1, e.OrderVersion) {
		inRecord, err := p.Write.NewSelect().TableExpr("orders").Where("id = ?", e.OrderID).Exists(ctx)
		if err != nil {
			return false, err
		}
		if !inRecord {
			return true, projection.ReconcileGone(ctx, p.Read, projection.Live, e.OrderID, max(recorded, e.OrderVersion), e.OccurredAt)
		}
	}
	if !found || recorded < e.OrderVersion {
		return false, nil
	}
	have := map[int]bool{}
	for _, h := range history {
		have[h.OrderVersion] = true
	}
	for v := stored + 1; v < e.OrderVersion; v++ {
		if !have[v] {
			return true, projection.ReconcileOrder(ctx, p.Write, p.Read, projection.Live, e.OrderID)
		}
	}
	return false, nil // a true gap: the missing events are on their way
}

// logged tells whether history holds every version from first to before.
func logged(history []order.Event, first, before int) bool {
	have := map[int]bool{}
	for _, h := range history {
		have[h.OrderVersion] = true
	}
	for v := first; v < before; v++ {
		if !have[v] {
			return false
		}
	}
	return true
}

// recordedVersion is the version of an order in the database of record, or
// for an order deleted there the version of its OrderDeleted event in the
// change log (history); found is false if the record knows no such order.
func recordedVersion(ctx context.Context, write bun.IDB, id order.ID, history []order.Event) (version int, found bool, err error) {
	err = write.NewSelect().TableExpr("orders").Column("version").Where("id = ?", id).Scan(ctx, &version)
	switch {
	case err == nil:
		return version, true, nil
	case !errors.Is(err, sql.ErrNoRows):
		return 0, false, fmt.Errorf("read version of order %s: %w", id, err)
	}
	for _, h := range history {
		if h.Type == (order.OrderDeleted{}).EventType() {
			return h.OrderVersion, true, nil
		}
	}
	return 0, false, nil
}
