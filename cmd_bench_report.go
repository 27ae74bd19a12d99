package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/staircase/staircase/internal/bench"
)

// benchReportCmd reads the output of the benchmarks `make bench` runs and
// prints the one table of figures against their targets, and saves it as
// JSON and as an SVG chart: `staircase bench report`.
func benchReportCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: staircase bench report [--in bin/bench.txt] [--json bin/bench.json] [--svg bin/bench.svg]")
		fs.PrintDefaults()
	}
	in := fs.String("in", "bin/bench.txt", "the output of go test -bench to read; - reads standard input")
	jsonOut := fs.String("json", "bin/bench.json", "where to save the figures as JSON; empty saves none")
	svgOut := fs.String("svg", "bin/bench.svg", "where to draw the chart; empty draws none")
	words, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if err := noWords(fs, words); err != nil {
		return err
	}
	var r io.Reader = os.Stdin
	if *in != "-" {
		f, err := os.Open(*in)
		if err != nil {
			return fmt.Errorf("read the benchmarks' output: %w", err)
		}
		defer f.Close()
		r = f
	}
	rs, err := bench.ParseBenchOutput(r)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		return errors.New("no benchmark results in " + *in + ": run make bench")
	}
	tab := bench.NewTable(rs)
	if err := tab.WriteTable(stdout); err != nil {
		return err
	}
	save := func(path string, write func(io.Writer) error) error {
		if path == "" {
			return nil
		}
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := write(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "saved", path)
		return nil
	}
	if err := save(*jsonOut, tab.WriteJSON); err != nil {
		return err
	}
	return save(*svgOut, tab.WriteSVG)
}
