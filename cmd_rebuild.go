package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/stages/stage3/rebuild"
)

// rebuildCmd rebuilds stage 3's read database from the database of record:
// `staircase rebuild`. It needs no running app; if one runs on the same
// databases it keeps serving, and the rebuild syncs once more after the
// swap to take in what its projector wrote meanwhile.
func rebuildCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg app.Config
	fs := flag.NewFlagSet("rebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: staircase rebuild [flags]")
		fmt.Fprintln(stderr, "Rebuilds stage 3's read database from the database of record, into a shadow copy swapped in when caught up.")
		fs.PrintDefaults()
	}
	projection := fs.String("projection", "all", "which projection to rebuild: all, or dashboard alone (replayed from the change log)")
	commonFlags(fs, &cfg)
	words, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if err := noWords(fs, words); err != nil {
		return err
	}
	if *projection != "all" && *projection != "dashboard" {
		fs.Usage()
		return fmt.Errorf("--projection must be all or dashboard, not %q", *projection)
	}
	write, err := app.OpenWrite(ctx, cfg)
	if err != nil {
		return err
	}
	defer write.Close()
	read, err := app.OpenRead(ctx, cfg)
	if err != nil {
		return err
	}
	defer read.Close()

	if *projection == "dashboard" {
		return rebuildDashboard(ctx, write, read, stdout)
	}
	bar := newProgressBar(stdout)
	var last rebuild.Progress
	err = rebuild.Rebuild(ctx, write, read, nil, func(p rebuild.Progress) {
		last = p
		bar.show(p)
	})
	bar.end()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return errors.New("rebuild interrupted; the live read tables are untouched")
		}
		return err
	}
	fmt.Fprintln(stdout, last.String())
	reportLeftOut(stdout, last.Parked, last.Skipped)
	return nil
}

// reportLeftOut says what a rebuild did not replay: events parked in the
// error log, and events of orders synced from the database of record.
func reportLeftOut(stdout io.Writer, parked, skipped int64) {
	if parked > 0 {
		fmt.Fprintf(stdout, "%d events could not be applied (a schema this version cannot read, or refused by the order's rules) and were parked in the error log: see `staircase dlq list`\n", parked)
	}
	if skipped > 0 {
		fmt.Fprintf(stdout, "%d events of orders changed without events (stages 0–2) were synced from the database of record instead\n", skipped)
	}
}

// progressBar draws a rebuild's progress: on a terminal one line redrawn
// in place (\r), elsewhere (a log, a pipe) a plain line per phase and at
// most one a second, so that logs stay readable.
type progressBar struct {
	w        io.Writer
	terminal bool
	phase    rebuild.Phase
	last     time.Time
	drawn    bool
}

func newProgressBar(w io.Writer) *progressBar {
	return &progressBar{w: w, terminal: isTerminal(w)}
}

// isTerminal tells whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

const barWidth = 30

func (b *progressBar) show(p rebuild.Progress) {
	if p.Phase == rebuild.PhaseDone {
		return // the summary says it
	}
	if b.terminal {
		filled := int(p.Fraction() * barWidth)
		fmt.Fprintf(b.w, "\r[%s%s] %3.0f%% %s\033[K", strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled), 100*p.Fraction(), p.String())
		b.drawn = true
		return
	}
	now := time.Now()
	if p.Phase == b.phase && now.Sub(b.last) < time.Second {
		return
	}
	b.phase, b.last = p.Phase, now
	fmt.Fprintf(b.w, "%3.0f%% %s\n", 100*p.Fraction(), p.String())
}

// end finishes the redrawn line.
func (b *progressBar) end() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}
