package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Results are the figures of a `go test -bench` run: for each benchmark
// (its full name without the -GOMAXPROCS suffix), each unit's value —
// ns/op and the metrics the benchmark reported — averaged over the times
// it ran.
type Results map[string]map[string]float64

// procsSuffix is the -N that go test appends to a benchmark's name.
var procsSuffix = regexp.MustCompile(`-\d+$`)

// ParseBenchOutput reads the output of `go test -bench` (any other lines
// are skipped) into Results.
func ParseBenchOutput(r io.Reader) (Results, error) {
	sums := map[string]map[string]float64{}
	counts := map[string]map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // not a result line (e.g. a log line naming a benchmark)
		}
		name := procsSuffix.ReplaceAllString(f[0], "")
		vals := map[string]float64{}
		ok := true
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				ok = false
				break
			}
			vals[f[i+1]] = v
		}
		if !ok {
			continue
		}
		if sums[name] == nil {
			sums[name], counts[name] = map[string]float64{}, map[string]int{}
		}
		for u, v := range vals {
			sums[name][u] += v
			counts[name][u]++
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	out := Results{}
	for name, m := range sums {
		out[name] = map[string]float64{}
		for u, v := range m {
			out[name][u] = v / float64(counts[name][u])
		}
	}
	return out, nil
}

// get returns a benchmark's figure in unit, if it was measured.
func (rs Results) get(name, unit string) (float64, bool) {
	v, ok := rs[name][unit]
	return v, ok
}

// Backends are the databases the results cover: sqlite first, then the
// others named in a db= part of a benchmark's name.
func (rs Results) Backends() []string {
	seen := map[string]bool{"sqlite": true}
	out := []string{"sqlite"}
	var more []string
	for name := range rs {
		for _, part := range strings.Split(name, "/") {
			if db, ok := strings.CutPrefix(part, "db="); ok && !seen[db] {
				seen[db] = true
				more = append(more, db)
			}
		}
	}
	sort.Strings(more)
	return append(out, more...)
}

// Row is one figure of the report.
type Row struct {
	Figure  string `json:"figure"`
	Backend string `json:"backend"`
	// Value is the figure, nil when it was not measured in this run.
	Value *float64 `json:"value"`
	Unit  string   `json:"unit"`
	// Target says what the figure should be ("≥ 0.25"); empty for a
	// figure shown for comparison only. Goal and Higher are its parts:
	// the bound, and whether higher is better.
	Target string  `json:"target,omitempty"`
	Goal   float64 `json:"goal,omitempty"`
	Higher bool    `json:"higher_is_better"`
	// Met is nil when there is no target or no value.
	Met *bool `json:"met"`
	// Beside holds the figures the value was made from.
	Beside string `json:"beside,omitempty"`
}

// Score is how far the value is toward its target, 1 at the target and
// above 1 past it (value÷goal, or goal÷value when lower is better); 0 when
// there is nothing to score.
func (r Row) Score() float64 {
	if r.Value == nil || r.Target == "" || r.Goal == 0 {
		return 0
	}
	v := *r.Value
	if r.Higher {
		return v / r.Goal
	}
	if v <= 0 {
		return math.Inf(1)
	}
	return r.Goal / v
}

// Table is the table `make bench` prints.
type Table struct {
	Rows []Row `json:"rows"`
	// Results are the raw figures the rows were made from.
	Results Results `json:"benchmarks"`
}

// dbName names a benchmark of backend db: a "/db=…" part.
func dbName(prefix, db string) string { return prefix + "/db=" + db }

// NewTable makes the rows of the table from a run's results. A figure
// whose benchmark did not run in it is a row without a value: "not
// measured".
func NewTable(rs Results) *Table {
	rep := &Table{Results: rs}
	for _, db := range rs.Backends() {
		rep.Rows = append(rep.Rows, rowsFor(rs, db)...)
	}
	return rep
}

func rowsFor(rs Results, db string) []Row {
	var rows []Row
	add := func(r Row, v float64, ok bool) {
		r.Backend = db
		if ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			r.Value = &v
			if r.Target != "" {
				met := v <= r.Goal
				if r.Higher {
					met = v >= r.Goal
				}
				r.Met = &met
			}
		} else {
			r.Beside = ""
		}
		rows = append(rows, r)
	}
	at := func(v float64) string { return fmt.Sprintf("%s orders", count(v)) }

	h := dbName("BenchmarkWriteHeadroom", db)
	acc, ok1 := rs.get(h, "accepted/s")
	bare, ok2 := rs.get(h, "bare-req/s")
	add(Row{Figure: "write headroom: async accepted ÷ bare Fiber", Unit: "×", Target: "≥ 0.25", Goal: 0.25, Higher: true,
		Beside: fmt.Sprintf("%s accepted/s ÷ %s req/s", count(acc), count(bare))}, acc/bare, ok1 && ok2)
	handled, ok1 := rs.get(h, "handled/s")
	sync, ok2 := rs.get(h, "sync-writes/s")
	add(Row{Figure: "async command handler ÷ sync writes", Unit: "×", Target: "≥ 1", Goal: 1, Higher: true,
		Beside: fmt.Sprintf("%s handled/s ÷ %s writes/s", count(handled), count(sync))}, handled/sync, ok1 && ok2)

	iso0, ok0 := rs.get("BenchmarkReadIsolation/stage=0/db="+db, "loaded/idle")
	iso3, ok3 := rs.get("BenchmarkReadIsolation/stage=3/db="+db, "loaded/idle")
	beside := func(stage int) string {
		n := "BenchmarkReadIsolation/stage=" + strconv.Itoa(stage) + "/db=" + db
		return fmt.Sprintf("list p99 %s ms under writes ÷ %s ms idle", num(rs[n]["loaded-p99-ms"]), num(rs[n]["idle-p99-ms"]))
	}
	add(Row{Figure: "read isolation, stage 0: list p99 under writes ÷ idle", Unit: "×", Beside: beside(0)}, iso0, ok0)
	r3 := Row{Figure: "read isolation, stage 3: list p99 under writes ÷ idle", Unit: "×", Beside: beside(3)}
	if ok0 {
		r3.Target, r3.Goal = "≤ stage 0 ("+num(iso0)+")", iso0
	}
	add(r3, iso3, ok3)
	// Scaled out (BenchmarkReadIsolationRoles, PostgreSQL and NATS only):
	// one process with every role, then the web role on a core of its own.
	if db != "sqlite" {
		for _, mode := range []string{"all", "split"} {
			n := "BenchmarkReadIsolationRoles/roles=" + mode
			v, ok := rs.get(n, "isolation-ratio")
			r := Row{Figure: "read isolation, stage 3 processes, roles=" + mode + ": list p99 under writes ÷ idle", Unit: "×",
				Beside: fmt.Sprintf("list p99 %s ms under writes ÷ %s ms idle", num(rs[n]["loaded-p99-ms"]), num(rs[n]["idle-p99-ms"]))}
			if mode == "split" {
				r.Target, r.Goal = "≤ 1.3", 1.3
			}
			add(r, v, ok)
		}
	}

	l := dbName("BenchmarkProjectionLag", db)
	maxRate, _ := rs.get(l, "max-writes/s")
	p99, ok := rs.get(l, "half-p99-ms")
	add(Row{Figure: "projection lag p99 at 50% of max writes", Unit: "ms", Target: "< 50", Goal: 50,
		Beside: fmt.Sprintf("p50 %s ms at %s writes/s", num(rs[l]["half-p50-ms"]), count(maxRate/2))}, p99, ok)
	p99, ok = rs.get(l, "full-p99-ms")
	add(Row{Figure: "projection lag p99 at 100% of max writes", Unit: "ms", Target: "< 1,000", Goal: 1000,
		Beside: fmt.Sprintf("p50 %s ms at %s writes/s", num(rs[l]["full-p50-ms"]), count(maxRate))}, p99, ok)
	drain, ok := rs.get(l, "drain-ms")
	add(Row{Figure: "read side catches up after a burst at max writes", Unit: "ms", Target: "< 1,000", Goal: 1000}, drain, ok)

	rb := dbName("BenchmarkRebuild", db)
	ratio, ok := rs.get(rb, "rebuild/raw")
	evRate := rs[rb]["events/s"]
	secs := rs[rb]["rebuild-s"]
	events := evRate * secs
	add(Row{Figure: "rebuild ÷ raw insert, same rows", Unit: "×", Target: "≥ 0.5", Goal: 0.5, Higher: true,
		Beside: fmt.Sprintf("%s events/s; raw %s rows/s; in CPU time %s×", count(evRate), count(rs[rb]["raw-rows/s"]), num(rs[rb]["cpu-rebuild/raw"]))}, ratio, ok)
	if db == "sqlite" {
		_, ok := rs.get(rb, "rebuild-s")
		add(Row{Figure: "rebuild time per 1M events", Unit: "s", Target: "< 30", Goal: 30,
			Beside: fmt.Sprintf("%s events in %s s", count(events), num(secs))}, secs*1e6/max(events, 1), ok && events > 0)
	}

	sc := dbName("BenchmarkAtScale", db)
	orders := rs[sc]["orders"]
	enter, ok := rs.get(sc, "enter-s")
	add(Row{Figure: "enter stage 3 without a change log, per 500k orders", Unit: "s", Target: "≤ 10", Goal: 10,
		Beside: fmt.Sprintf("%s s for %s", num(enter), at(orders))}, enter*500_000/max(orders, 1), ok && orders > 0)

	for _, q := range []struct{ bench, figure string }{
		{"BenchmarkDashboard", "dashboard"},
		{"BenchmarkSearchNoMatch", "search with no match"},
	} {
		s3, ok3 := stageMillis(rs, q.bench, 3, db)
		s0, ok0 := stageMillis(rs, q.bench, 0, db)
		r := Row{Figure: q.figure + ", stage 3", Unit: "ms", Target: "< 5", Goal: 5}
		if q.bench == "BenchmarkSearchNoMatch" {
			r.Target, r.Goal = "< 20", 20
		}
		if ok0 {
			r.Beside = "stage 0: " + num(s0) + " ms"
		}
		add(r, s3, ok3)
	}

	list3, ok := rs.get(sc, "s3-list-p50-ms")
	add(Row{Figure: "list page p50, stage 3", Unit: "ms", Target: "< 10", Goal: 10,
		Beside: fmt.Sprintf("stage 0: %s ms; %s", num(rs[sc]["s0-list-p50-ms"]), at(orders))}, list3, ok)
	rss, ok := rs.get(sc, "rss-MB")
	add(Row{Figure: "resident memory under load, stage 3", Unit: "MB", Target: "< 150", Goal: 150,
		Beside: at(orders)}, rss, ok)
	return rows
}

// stageMillis finds a benchmark's time per operation, in ms, for a stage
// and database: Name/stage=N/db=DB, or Name/stage=N for sqlite when the
// benchmark names no database.
func stageMillis(rs Results, bench string, stage int, db string) (float64, bool) {
	base := bench + "/stage=" + strconv.Itoa(stage)
	for _, name := range []string{base + "/db=" + db, base + "/" + db} {
		if v, ok := rs.get(name, "ns/op"); ok {
			return v / 1e6, true
		}
	}
	if db == "sqlite" {
		if v, ok := rs.get(base, "ns/op"); ok {
			return v / 1e6, true
		}
	}
	return 0, false
}

// count writes a whole number with thousands separators: 12,345.
func count(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "?"
	}
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// num writes a figure with three significant digits, or as a whole number
// from 1,000 up.
func num(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "?"
	case math.Abs(v) >= 1000:
		return count(v)
	case v == 0:
		return "0"
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// Verdict is a row's result in words.
func (r Row) Verdict() string {
	switch {
	case r.Value == nil:
		return "not measured"
	case r.Met == nil:
		return "—"
	case *r.Met:
		return "met"
	}
	return "MISSED"
}

// ValueText is the value with its unit.
func (r Row) ValueText() string {
	if r.Value == nil {
		return "not measured"
	}
	if r.Unit == "×" {
		return num(*r.Value) + "×"
	}
	return num(*r.Value) + " " + r.Unit
}

// WriteTable prints the report as one aligned text table.
func (rep *Table) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tdb\tmeasured\ttarget\tresult\tmeasured beside it")
	for _, r := range rep.Rows {
		target := r.Target
		if target == "" {
			target = "—"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Figure, r.Backend, r.ValueText(), target, r.Verdict(), r.Beside)
	}
	return tw.Flush()
}

// WriteJSON writes the report as indented JSON.
func (rep *Table) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
