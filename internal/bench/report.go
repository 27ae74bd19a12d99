package bench

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Result lines of `go test -bench`, as the report reads them.

// BenchLine is one result line of `go test -bench`: the benchmark's name
// (without the -GOMAXPROCS suffix), its iterations and its values by unit
// (ns/op, B/op, allocs/op and the benchmark's own metrics).
type BenchLine struct {
	Name       string
	Iterations int
	Values     map[string]float64
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// ParseBenchOutput reads the result lines of `go test -bench` output; the
// other lines are skipped. failed is true when the output reports a failed
// test or benchmark.
func ParseBenchOutput(r io.Reader) (lines []BenchLine, failed bool, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		text := sc.Text()
		if strings.HasPrefix(text, "FAIL") || strings.HasPrefix(strings.TrimSpace(text), "--- FAIL") || strings.HasPrefix(text, "panic:") {
			failed = true
		}
		f := strings.Fields(text)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		l := BenchLine{Name: procsSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), ""), Iterations: n, Values: map[string]float64{}}
		ok := true
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				ok = false
				break
			}
			l.Values[f[i+1]] = v
		}
		if ok {
			lines = append(lines, l)
		}
	}
	return lines, failed, sc.Err()
}

var stageSegment = regexp.MustCompile(`^stage([0-3])$`)

// median is the median of the values of unit over lines (0 if none has it).
func median(lines []BenchLine, unit string) (float64, bool) {
	var vs []float64
	for _, l := range lines {
		if v, ok := l.Values[unit]; ok {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return 0, false
	}
	slices.Sort(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2], true
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2, true
}

// WriteReport writes the benchmark results as a report: benchmarks with a
// stageN part in their names side by side, each stage as a ratio to stage 0,
// then the others' own metrics. Repeated runs (-count) are summarised by
// their median.
func WriteReport(w io.Writer, lines []BenchLine) {
	byName := map[string][]BenchLine{}
	var names []string
	for _, l := range lines {
		if _, seen := byName[l.Name]; !seen {
			names = append(names, l.Name)
		}
		byName[l.Name] = append(byName[l.Name], l)
	}
	// Stage comparisons: the name with its stage part taken out is the row.
	var rows []*stageRow
	rowOf := map[string]*stageRow{}
	var others []string
	for _, name := range names {
		parts := strings.Split(name, "/")
		stage := -1
		for i, p := range parts {
			if m := stageSegment.FindStringSubmatch(p); m != nil {
				stage = int(m[1][0] - '0')
				parts = slices.Delete(parts, i, i+1)
				break
			}
		}
		if stage < 0 {
			others = append(others, name)
			continue
		}
		key := strings.Join(parts, "/")
		r := rowOf[key]
		if r == nil {
			r = &stageRow{name: key}
			rowOf[key] = r
			rows = append(rows, r)
		}
		r.stages[stage] = append(r.stages[stage], byName[name]...)
	}
	if len(rows) > 0 {
		width := len("benchmark")
		for _, r := range rows {
			width = max(width, len(r.name)+len(" allocs/op"))
		}
		fmt.Fprintln(w, "Stages side by side: median time per operation, and its ratio to stage 0")
		fmt.Fprintf(w, "%-*s", width, "benchmark")
		for s := range 4 {
			fmt.Fprintf(w, " %18s", "stage "+strconv.Itoa(s))
		}
		fmt.Fprintln(w)
		for _, r := range rows {
			for _, unit := range []string{"ns/op", "allocs/op"} {
				if !r.has(unit) {
					continue // allocs/op only with -benchmem
				}
				label := r.name + " ms/op"
				if unit != "ns/op" {
					label = r.name + " " + unit
				}
				fmt.Fprintf(w, "%-*s", width, label)
				base, haveBase := median(r.stages[0], unit)
				for s := range 4 {
					v, ok := median(r.stages[s], unit)
					cell := "—"
					if ok {
						shown := v
						if unit == "ns/op" {
							shown = v / 1e6
						}
						prec := precision(shown)
						if unit == "allocs/op" {
							prec = 0
						}
						cell = strconv.FormatFloat(shown, 'f', prec, 64)
						if haveBase && base > 0 && s > 0 {
							cell += fmt.Sprintf(" (%.2f×)", v/base)
						}
					}
					fmt.Fprintf(w, " %18s", cell)
				}
				fmt.Fprintln(w)
			}
		}
	}
	if len(others) > 0 {
		if len(rows) > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, "Other benchmarks (median of runs)")
		width := 0
		for _, name := range others {
			width = max(width, len(name))
		}
		for _, name := range others {
			ls := byName[name]
			var units []string
			for u := range ls[0].Values {
				if u != "ns/op" && u != "B/op" && u != "allocs/op" {
					units = append(units, u)
				}
			}
			// Percentiles in order, then the rest.
			slices.SortFunc(units, func(a, b string) int {
				if c := unitRank(a) - unitRank(b); c != 0 {
					return c
				}
				return strings.Compare(a, b)
			})
			fmt.Fprintf(w, "%-*s", width, name)
			for _, u := range units {
				v, _ := median(ls, u)
				fmt.Fprintf(w, "  %s %s", strconv.FormatFloat(v, 'f', precision(v), 64), u)
			}
			if len(units) == 0 {
				v, _ := median(ls, "ns/op")
				fmt.Fprintf(w, "  %.3f ms/op", v/1e6)
			}
			fmt.Fprintln(w)
		}
	}
}

// stageRow is a benchmark run in every stage: its results by stage.
type stageRow struct {
	name   string
	stages [4][]BenchLine
}

// has tells whether any stage's results have unit.
func (r *stageRow) has(unit string) bool {
	for _, ls := range r.stages {
		if _, ok := median(ls, unit); ok {
			return true
		}
	}
	return false
}

// unitRank orders a benchmark's own metrics: percentiles low to high, then
// the others.
func unitRank(unit string) int {
	for i, u := range []string{"p50-ms", "p90-ms", "p99-ms", "max-ms"} {
		if u == unit {
			return i
		}
	}
	return 10
}

// precision gives small numbers more decimals.
func precision(v float64) int {
	switch {
	case v >= 1000:
		return 0
	case v >= 10:
		return 1
	case v >= 1:
		return 2
	}
	return 3
}
