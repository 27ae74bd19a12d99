package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/stages/stage3/rebuild"
)

// rebuildDashboard rebuilds the dashboard projection alone from the change
// log: `staircase rebuild --projection dashboard`, the way a new query's
// projection is filled, by replaying every event from the beginning.
func rebuildDashboard(ctx context.Context, write, read *bun.DB, stdout io.Writer) error {
	rep, err := rebuild.RebuildDashboard(ctx, write, read, nil, func(done int64) {
		if done%100_000 < 5000 {
			fmt.Fprintf(stdout, "replayed %d events\n", done)
		}
	})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return errors.New("rebuild interrupted; the live dashboard is untouched")
		}
		return err
	}
	fmt.Fprintln(stdout, rep.String())
	if rep.Parked > 0 {
		fmt.Fprintf(stdout, "%d events could not be applied and were parked in the error log: see `staircase dlq list`\n", rep.Parked)
	}
	if rep.Skipped > 0 {
		fmt.Fprintf(stdout, "%d events of orders changed without events (stages 0–2) were synced from the database of record instead\n", rep.Skipped)
	}
	return nil
}
