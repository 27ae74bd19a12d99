package app

import (
	"context"

	"github.com/staircase/staircase/bff"
	"github.com/staircase/staircase/stages/stage3"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// errorLogPort shows stage 3's error log to the BFF through the port the
// BFF declares, so that neither package imports the other.
type errorLogPort struct{ log *stage3.ErrorLog }

func (p errorLogPort) ErrorLog(ctx context.Context, status string) ([]bff.ErrorEntry, error) {
	entries, err := p.log.List(ctx, status)
	if err != nil {
		return nil, err
	}
	out := make([]bff.ErrorEntry, 0, len(entries))
	for _, e := range entries {
		out = append(out, errorEntry(e, false))
	}
	return out, nil
}

func (p errorLogPort) ErrorEntry(ctx context.Context, id int64) (bff.ErrorEntry, error) {
	e, err := p.log.Entry(ctx, id)
	if err != nil {
		return bff.ErrorEntry{}, err
	}
	return errorEntry(e, true), nil
}

func (p errorLogPort) Replay(ctx context.Context, id int64, dryRun bool) (bff.ReplayReport, error) {
	r, err := p.log.Replay(ctx, id, dryRun)
	if err != nil {
		return bff.ReplayReport{}, err
	}
	out := bff.ReplayReport{DryRun: r.DryRun, Applied: r.Applied, Skipped: r.Skipped, Failed: r.Failed, Waiting: r.Waiting}
	for _, s := range r.Steps {
		out.Steps = append(out.Steps, bff.ReplayStep{
			EntryID: s.EntryID, OrderID: s.OrderID.String(), OrderVersion: s.OrderVersion, Type: s.Type, Result: s.Result, Text: s.Text,
		})
	}
	return out, nil
}

// errorEntry converts an entry; with envelope, it carries the envelope and
// whether it can be read.
func errorEntry(e projection.ErrorEntry, envelope bool) bff.ErrorEntry {
	out := bff.ErrorEntry{
		ID: e.ID, EventID: e.EventID.String(), OrderID: e.OrderID.String(), OrderVersion: e.OrderVersion, Type: e.Type,
		Status: e.Status, Error: e.Error, Attempts: e.Attempts, FirstFailedAt: e.FirstFailedAt, LastFailedAt: e.LastFailedAt,
	}
	if envelope {
		out.Envelope = e.Envelope
		if err := stage3.Readable(e); err != nil {
			out.Unreadable = err.Error()
		}
	}
	return out
}
