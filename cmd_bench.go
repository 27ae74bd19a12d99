package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/staircase/staircase/internal/bench"
)

const benchUsage = `usage:
  staircase bench [flags]          put load on a running Staircase and report what it measured
  staircase bench report [flags]   turn make bench's output into one table of figures and targets,
                                   saved as JSON and drawn as an SVG chart

`

// benchCmd runs the load generator against a running server, in whatever
// stage it is, and prints what it measured.
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "report" {
		return benchReportCmd(args[1:], stdout, stderr)
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
	words, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if err := noWords(fs, words); err != nil {
		return err
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
