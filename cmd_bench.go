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

	"github.com/staircase/staircase/internal/bench"
)

const benchUsage = `usage:
  staircase bench [flags]          put load on a running Staircase and report what it measured
  staircase bench report [FILE]    summarise 'go test -bench' output (FILE or stdin): stages side by side as ratios to stage 0

`

// benchCmd runs the load generator against a running server, in whatever
// stage it is, or summarises benchmark output.
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "report" {
		return benchReport(args[1:], stdout)
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "http://127.0.0.1:8080", "the Staircase to load: its base URL")
	duration := fs.Duration("duration", 10*time.Second, "how long to put load on it (at most "+bench.MaxDuration.String()+")")
	concurrency := fs.Int("concurrency", 8, "clients sending requests at once, each one after the other")
	mix := fs.String("mix", bench.DefaultMix, "operations and their weights: place, ship (an order this run placed), list (first page), get (an order this run placed)")
	maxOps := fs.Int("max-ops", 1_000_000, "stop after this many operations even if the duration has not passed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("bench takes no arguments, got %q", fs.Args())
	}
	m, err := bench.ParseMix(*mix)
	if err != nil {
		return err
	}
	base := *addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	opts := bench.Options{Base: strings.TrimRight(base, "/"), Duration: *duration, Concurrency: *concurrency, Mix: m, MaxOps: *maxOps}
	if err := opts.Validate(); err != nil {
		return err
	}
	rep, err := bench.Run(ctx, opts)
	if err != nil {
		return err
	}
	rep.Print(stdout)
	return nil
}

// benchReport prints the report of `go test -bench` output and fails when
// that output holds no result or a failure, so that `make bench` does.
func benchReport(args []string, stdout io.Writer) error {
	in := io.Reader(os.Stdin)
	switch len(args) {
	case 0:
	case 1:
		if args[0] != "-" {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			in = f
		}
	default:
		return errors.New("bench report reads one file (or stdin)")
	}
	lines, failed, err := bench.ParseBenchOutput(in)
	if err != nil {
		return err
	}
	if len(lines) == 0 {
		return errors.New("bench report: the output holds no benchmark results")
	}
	bench.WriteReport(stdout, lines)
	if failed {
		return errors.New("bench report: a benchmark or test failed (see its output)")
	}
	return nil
}
