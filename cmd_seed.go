package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/seed"
	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/stages/stage3"
)

// seedCmd fills the database of record with made-up orders:
// `staircase seed --orders N`. Every order is made by the domain's rules,
// placed and then taken through the life it was dealt (lines changed,
// shipped, delivered, cancelled), and written with its events in the change
// log, as stage 3 writes them, many orders to a transaction. Then, when the
// database of record was empty or the read database is, it builds stage
// 3's read side from the database of record and moves the relay past the
// seeded events, so that stage 3 is ready at once (seed.OrdersAndReadSide);
// otherwise stage 3's relay and projectors take the seeded events in.
func seedCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg app.Config
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: staircase seed --orders N [flags]")
		fmt.Fprintln(stderr, "Adds N made-up orders, with their events in the change log, to the database of record; when it was empty or stage 3's read database is, builds the read side from them too, so stage 3 starts current. Stop the app first when it runs on the same data dir.")
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
	if cfg.WriteDB == "" || cfg.ReadDB == "" {
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
	read, err := app.OpenRead(ctx, cfg)
	if err != nil {
		return err
	}
	defer read.Close()
	start := time.Now()
	bar := newProgressBar(stdout)
	res, err := seed.OrdersAndReadSide(ctx, write, read, relayPositionName(), *n, *seedFlag, func(done, events int) {
		if done%(500*40) == 0 || done == *n {
			fmt.Fprintf(stdout, "seeded %d of %d orders (%d events), %.0f orders/s\n", done, *n, events, float64(done)/time.Since(start).Seconds())
		}
	}, bar.show)
	bar.end()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seed %d: %d orders and %d events in %.1f s\n", res.Seed, *n, res.Events, time.Since(start).Seconds())
	reportReadSide(stdout, res)
	return nil
}

// relayPositionName is the name of stage 3's relay's position in the
// change log, under the bus namespace the app runs with.
func relayPositionName() string {
	return stage3.RelayPositionName(stage3.EventsTopic(os.Getenv("STAIRCASE_BUS_NAMESPACE")))
}

// reportReadSide says what a seed did to stage 3's read side.
func reportReadSide(w io.Writer, res seed.Seeded) {
	if res.Built {
		fmt.Fprintf(w, "read side built (%s); stage 3 is ready at once: its relay goes on after the seeded events\n", res.Rebuild.String())
		return
	}
	fmt.Fprintf(w, "read side left to stage 3: %s\n", res.Why)
}
