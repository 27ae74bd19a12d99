package stage3

import (
	"context"

	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/stages/stage3/errorlog"
	"github.com/staircase/staircase/stages/stage3/projection"
	"github.com/staircase/staircase/stages/stage3/rebuild"
)

// The operations as the app uses them: the error log (package errorlog) as
// an operator sees it from the admin API and pages, in the neutral types the
// BFF shows — it answers whichever stage is active — and rebuilds of the
// read database (package rebuild).

// ErrorLog returns the stage's error log: a replay runs between two of the
// projector's events, and a command entry is re-queued on the command bus.
func (s *Stage) ErrorLog() *errorlog.Log {
	return s.workshopErrorLog(errorlog.New(s.cfg.Read, s.cfg.Write, s.bus, s.projector.exclusive()))
}

// Rebuild rebuilds the read database (rebuild.Rebuild), holding the
// projector back only for the swap. Reads and commands go on meanwhile.
func (s *Stage) Rebuild(ctx context.Context, progress func(rebuild.Progress)) error {
	return rebuild.Rebuild(ctx, s.cfg.Write, s.cfg.Read, s.projector.exclusive(), progress)
}

// Behind tells whether the read database is far enough behind that
// entering stage 3 rebuilds it (rebuild.Behind).
func (s *Stage) Behind(ctx context.Context) (bool, error) {
	return rebuild.Behind(ctx, s.cfg.Write, s.cfg.Read)
}

// RebuildReadDatabase is Rebuild with its progress in plain values, for
// callers that do not import package rebuild (the BFF's port): what to show
// (Progress.String, the summary when done) and how far, in thousandths.
func (s *Stage) RebuildReadDatabase(ctx context.Context, progress func(text string, permille int)) error {
	return s.Rebuild(ctx, func(p rebuild.Progress) {
		if progress != nil {
			progress(p.String(), int(p.Fraction()*1000))
		}
	})
}

// ErrorLogEntries lists the error log's entries, oldest first; with status
// (stageview.EntryParked, …) only those. An unknown status is EINVALID.
func (s *Stage) ErrorLogEntries(ctx context.Context, status string) ([]stageview.ErrorEntry, error) {
	entries, err := s.ErrorLog().List(ctx, status)
	if err != nil {
		return nil, err
	}
	out := make([]stageview.ErrorEntry, 0, len(entries))
	for _, e := range entries {
		out = append(out, errorEntryView(e, false))
	}
	return out, nil
}

// ErrorLogEntry returns entry id with its envelope, ENOTFOUND if there is
// none.
func (s *Stage) ErrorLogEntry(ctx context.Context, id int64) (stageview.ErrorEntry, error) {
	e, err := s.ErrorLog().Entry(ctx, id)
	if err != nil {
		return stageview.ErrorEntry{}, err
	}
	return errorEntryView(e, true), nil
}

// ReplayErrorLog applies again the parked and held events of entry id's
// order (stageview.ReplayAll: of every order in the log), in version
// order; with dryRun it changes nothing and says what would happen.
// ENOTFOUND for an unknown entry.
func (s *Stage) ReplayErrorLog(ctx context.Context, id int64, dryRun bool) (stageview.ReplayReport, error) {
	r, err := s.ErrorLog().Replay(ctx, id, dryRun)
	if err != nil {
		return stageview.ReplayReport{}, err
	}
	return replayView(r), nil
}

// DiscardErrorLog gives up on entry id instead of replaying it (see
// ErrorLog.Discard) and reports the replay of the events its order held
// behind it. ENOTFOUND for an unknown entry, ECONFLICT for one that is
// neither parked nor held.
func (s *Stage) DiscardErrorLog(ctx context.Context, id int64) (stageview.ReplayReport, error) {
	r, err := s.ErrorLog().Discard(ctx, id)
	if err != nil {
		return stageview.ReplayReport{}, err
	}
	return replayView(r), nil
}

func replayView(r projection.ReplayReport) stageview.ReplayReport {
	out := stageview.ReplayReport{DryRun: r.DryRun, Applied: r.Applied, Skipped: r.Skipped, Failed: r.Failed, Waiting: r.Waiting}
	for _, st := range r.Steps {
		out.Steps = append(out.Steps, stageview.ReplayStep{
			EntryID: st.EntryID, OrderID: st.OrderID.String(), OrderVersion: st.OrderVersion, Type: st.Type, Result: st.Result, Text: st.Text,
		})
	}
	return out
}

// errorEntryView converts an entry; with envelope, it carries the envelope
// and whether it can be read.
func errorEntryView(e projection.ErrorEntry, envelope bool) stageview.ErrorEntry {
	out := stageview.ErrorEntry{
		ID: e.ID, Kind: e.Kind, EventID: e.EventID.String(), OrderID: e.OrderID.String(), OrderVersion: e.OrderVersion, Type: e.Type,
		Status: e.Status, Error: e.Error, Attempts: e.Attempts, FirstFailedAt: e.FirstFailedAt, LastFailedAt: e.LastFailedAt,
	}
	if envelope {
		out.Envelope = e.Envelope
		if err := errorlog.Readable(e); err != nil && e.Kind == projection.KindEvent {
			out.Unreadable = err.Error()
		}
	}
	return out
}
