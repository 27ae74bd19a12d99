package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/nats-io/nats.go"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/seed"
	"github.com/staircase/staircase/internal/sqlstore"
)

// resetCmd empties the app's data: `staircase reset --yes`. Every order
// goes, from the database of record that every stage shares (with its
// change log and the commands' records), from stage 3's read database
// (with its error log) and from the bus: the embedded NATS's store is
// removed, an external NATS's streams are purged. The schema stays.
// With --orders N it seeds N made-up orders afterwards, as seed does,
// read side included.
// Like serve, it holds the data dir, so it refuses while a serve runs on
// it; a running app resets itself from its workshop panel instead.
func resetCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg app.Config
	fs := flag.NewFlagSet("reset", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: staircase reset --yes [--orders N] [flags]")
		fmt.Fprintln(stderr, "Deletes every order, in every stage: the write database with its change log, the read database and the bus. Stop the app first.")
		fs.PrintDefaults()
	}
	yes := fs.Bool("yes", false, "really delete every order (without it, reset says what it would do and changes nothing)")
	n := fs.Int("orders", 0, "seed this many made-up orders after the reset (0 to 10,000,000)")
	fs.StringVar(&cfg.NATSURL, "nats-url", env("STAIRCASE_NATS_URL", ""), "the external NATS whose streams to purge; empty removes the embedded NATS's store from the data dir (env STAIRCASE_NATS_URL)")
	fs.StringVar(&cfg.NATSCreds, "nats-creds", env("STAIRCASE_NATS_CREDS", ""), "credentials file for --nats-url (env STAIRCASE_NATS_CREDS)")
	commonFlags(fs, &cfg)
	words, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if err := noWords(fs, words); err != nil {
		return err
	}
	if *n < 0 || *n > 10_000_000 {
		fs.Usage()
		return errors.New("reset takes --orders from 0 to 10,000,000")
	}
	if !*yes {
		fs.Usage()
		return errors.New("reset deletes every order and cannot be undone: run it again with --yes")
	}
	if cfg.WriteDB == "" || cfg.ReadDB == "" || cfg.NATSURL == "" {
		// As serve does: SQLite files or the embedded bus in the data dir
		// are not touched while a serve holds it.
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
	if err := app.ResetDatabases(ctx, write, read); err != nil {
		return err
	}
	if cfg.NATSURL == "" {
		if err := app.RemoveEmbeddedBus(cfg.DataDir); err != nil {
			return fmt.Errorf("remove the embedded bus: %w", err)
		}
	} else {
		var opts []nats.Option
		if cfg.NATSCreds != "" {
			opts = append(opts, nats.UserCredentials(cfg.NATSCreds))
		}
		nc, err := messaging.Connect(cfg.NATSURL, opts...)
		if err != nil {
			return fmt.Errorf("connect to NATS: %w", err)
		}
		defer nc.Close()
		if err := app.PurgeBus(ctx, nc, os.Getenv("STAIRCASE_BUS_NAMESPACE")); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, "reset: every order deleted from the write database (with its change log), the read database and the bus")
	if *n > 0 {
		res, err := seed.OrdersAndReadSide(ctx, write, read, relayPositionName(), *n, 0, nil, nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "seed %d: %d orders and %d events\n", res.Seed, *n, res.Events)
		reportReadSide(stdout, res)
	}
	return nil
}
