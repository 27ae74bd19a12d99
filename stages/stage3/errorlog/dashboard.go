package errorlog

import (
	"context"
	"errors"
	"fmt"

	"github.com/staircase/staircase/stages/stage3/projection"
)

// The error log is shared by both consumers of the event bus: an event the
// dashboard projector parks is replayed like one the projector parks. The
// replay applies the order rows through projection.Replay; onDashboard then
// applies the same events to the dashboard projection, which has the same
// rules (a duplicate changes nothing), so that an order whose events were
// parked by either consumer is whole on both after a replay.

// onDashboard applies to the dashboard the events of the entries a replay
// applied or found applied, in the order it went through them. An event
// the dashboard cannot take yet (a gap: an earlier one is still parked) is
// left to the dashboard projector, which fills it from the change log with
// the order's next event.
func (l *Log) onDashboard(ctx context.Context, report projection.ReplayReport) error {
	for _, step := range report.Steps {
		if step.Result != projection.ReplayApplied && step.Result != projection.ReplaySkipped {
			continue
		}
		entry, err := projection.ErrorEntryByID(ctx, l.read, step.EntryID)
		if err != nil {
			return err
		}
		if entry.Kind != projection.KindEvent {
			continue
		}
		e, err := decode([]byte(entry.Envelope))
		if err != nil {
			return err
		}
		if _, err := projection.ApplyDashboard(ctx, l.read, projection.DashboardLive, e); err != nil && !errors.Is(err, projection.ErrGap) {
			return fmt.Errorf("replay %s v%d of order %s onto the dashboard: %w", e.Type, e.OrderVersion, e.OrderID, err)
		}
	}
	return nil
}
