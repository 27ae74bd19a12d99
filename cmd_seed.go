package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/seed"
	"github.com/staircase/staircase/internal/sqlstore"
)

// seedCmd fills the database of record with made-up orders:
// `staircase seed --orders N`. Every order is made by the domain's rules,
// placed and then taken through the life it was dealt (lines changed,
// shipped, delivered, cancelled), and written with its events in the change
// log, as stage 3 writes them, many orders to a transaction. Stage 3's
// read database catches up from the change log when the stage is entered
// (a rebuild, for this many new events).
func seedCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg app.Config
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: staircase seed --orders N [flags]")
		fmt.Fprintln(stderr, "Adds N made-up orders, with their events in the change log, to the database of record. Stop the app first when it runs on the same data dir.")
		fs.PrintDefaults()
	}
	n := fs.Int("orders", 0, "how many orders to add (1 to 10,000,000)")
	seedFlag := fs.Uint64("seed", 0, "the random seed: the same seed makes the same orders' contents (IDs stay unique); 0 picks one")
	commonFlags(fs, &cfg)
	words, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if err := noWords(fs, words); err != nil {
		return err
	}
	if *n < 1 || *n > 10_000_000 {
		fs.Usage()
		return errors.New("seed needs --orders from 1 to 10,000,000")
	}
	if cfg.WriteDB == "" {
		// SQLite in the data dir: not while a serve holds it.
		unlock, err := sqlstore.LockDataDir(cfg.DataDir)
		if err != nil {
			return err
		}
		defer unlock()
	}
	write, err := app.OpenWrite(ctx, cfg)
	if err != nil {
		return err
	}
	defer write.Close()
	start := time.Now()
	used, events, err := seed.Orders(ctx, write, *n, *seedFlag, func(done, events int) {
		if done%(500*40) == 0 || done == *n {
			fmt.Fprintf(stdout, "seeded %d of %d orders (%d events), %.0f orders/s\n", done, *n, events, float64(done)/time.Since(start).Seconds())
		}
	})
	if err != nil {
		return err
	}
	*seedFlag = used
	fmt.Fprintf(stdout, "seed %d: %d orders and %d events in %.1f s\n", *seedFlag, *n, events, time.Since(start).Seconds())
	return nil
}
