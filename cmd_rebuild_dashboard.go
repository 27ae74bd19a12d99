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
	reportLeftOut(stdout, rep.Parked, rep.Skipped)
	return nil
}
