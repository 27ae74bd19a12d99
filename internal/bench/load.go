package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/staircase/staircase/internal/order"
)

// The operations of a load mix.
const (
	OpPlace = "place" // place a new order
	OpShip  = "ship"  // ship an order this run placed
	OpList  = "list"  // read the first page of the orders list
	OpGet   = "get"   // read one order this run placed
)

var ops = []string{OpPlace, OpShip, OpList, OpGet}

// Mix is how often each operation is picked: weights by name.
type Mix map[string]int

// DefaultMix is one ship per order placed and four list reads for each.
const DefaultMix = "place=1,ship=1,list=4"

// ParseMix reads a mix like "place=1,ship=1,list=4".
func ParseMix(s string) (Mix, error) {
	m := Mix{}
	total := 0
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, w, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		if !ok {
			return nil, fmt.Errorf("mix %q: write name=weight, e.g. %s", part, DefaultMix)
		}
		if !slices.Contains(ops, name) {
			return nil, fmt.Errorf("mix: unknown operation %q: use %s", name, strings.Join(ops, ", "))
		}
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 0 || n > 1000 {
			return nil, fmt.Errorf("mix: the weight of %s must be a whole number from 0 to 1000, not %q", name, w)
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("mix: %s is given twice", name)
		}
		m[name] = n
		total += n
	}
	if total == 0 {
		return nil, fmt.Errorf("mix %q: give at least one operation a weight above 0", s)
	}
	return m, nil
}

// String writes the mix back in its flag form.
func (m Mix) String() string {
	var parts []string
	for _, op := range ops {
		if w, ok := m[op]; ok {
			parts = append(parts, op+"="+strconv.Itoa(w))
		}
	}
	return strings.Join(parts, ",")
}

// pick chooses an operation by weight.
func (m Mix) pick(r *rand.Rand) string {
	total := 0
	for _, op := range ops {
		total += m[op]
	}
	n := r.IntN(total)
	for _, op := range ops {
		if n < m[op] {
			return op
		}
		n -= m[op]
	}
	return OpList
}

// Limits of a load run: it is a measuring tool, not a flood.
const (
	MaxDuration    = time.Hour
	MaxConcurrency = 256
)

// Options say what load to put on which server.
type Options struct {
	// Base is the server, e.g. http://127.0.0.1:8080.
	Base        string
	Duration    time.Duration
	Concurrency int
	Mix         Mix
	// MaxOps stops the run after this many operations even if Duration
	// has not passed; 0 means no limit but Duration.
	MaxOps int
	// ListLimit is the page size of list reads (default 20).
	ListLimit int
	// LagObservers is how many reads may watch for projection lag at once
	// in stage 3 (default 4; 0 takes the default, negative turns it off).
	// Each watches one command at a time, so that watching adds little
	// load: commands acked while all are busy are not sampled.
	LagObservers int
}

// Validate checks the options.
func (o Options) Validate() error {
	var errs []error
	u, err := url.Parse(o.Base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		errs = append(errs, fmt.Errorf("addr must be a server's base URL like http://127.0.0.1:8080, not %q", o.Base))
	}
	if o.Duration <= 0 || o.Duration > MaxDuration {
		errs = append(errs, fmt.Errorf("duration must be above 0 and at most %s, not %s", MaxDuration, o.Duration))
	}
	if o.Concurrency < 1 || o.Concurrency > MaxConcurrency {
		errs = append(errs, fmt.Errorf("concurrency must be from 1 to %d, not %d", MaxConcurrency, o.Concurrency))
	}
	if o.MaxOps < 0 {
		errs = append(errs, fmt.Errorf("max-ops must not be negative"))
	}
	if len(o.Mix) == 0 {
		errs = append(errs, fmt.Errorf("the mix is empty"))
	}
	return errors.Join(errs...)
}

// OpStats is what one operation did in a run.
type OpStats struct {
	Count     int
	Latencies Sample
	// Errors counts failures by HTTP status ("transport" when no answer
	// came).
	Errors map[string]int
	// Stale counts reads of an order this run placed that did not show
	// the version its command acked (stage 3's read side had not caught
	// up); they answered, so they are not errors.
	Stale int
}

// Report is what a load run measured.
type Report struct {
	Base        string
	Stage       int
	Concurrency int
	Mix         Mix
	Elapsed     time.Duration
	Ops         map[string]*OpStats
	// Lag holds, in stage 3, the time from a command's ack to the answer of
	// the first read that showed the acked version, for the commands
	// sampled.
	Lag         Sample
	LagTimeouts int
}

// Total is the number of operations done.
func (r *Report) Total() int {
	n := 0
	for _, s := range r.Ops {
		n += s.Count
	}
	return n
}

// Errors is the number of operations that failed.
func (r *Report) Errors() int {
	n := 0
	for _, s := range r.Ops {
		for _, c := range s.Errors {
			n += c
		}
	}
	return n
}

// lagTimeout is how long a lag observer waits for a version to show.
const lagTimeout = 30 * time.Second

// Run puts load on the server: Concurrency clients each doing one
// operation after another, picked from the mix, until Duration passes,
// MaxOps are done or ctx ends.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.ListLimit == 0 {
		o.ListLimit = order.DefaultPage
	}
	if o.LagObservers == 0 {
		o.LagObservers = 4
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	c, err := Dial(ctx, o.Base, o.Concurrency+max(o.LagObservers, 0))
	if err != nil {
		return nil, err
	}
	// Idle keep-alive connections left open would hold up the server's
	// graceful shutdown.
	defer c.http.CloseIdleConnections()
	rep := &Report{Base: o.Base, Stage: c.Stage(), Concurrency: o.Concurrency, Mix: o.Mix, Ops: map[string]*OpStats{}}
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()

	var (
		mu      sync.Mutex
		placed  []known // orders placed and not yet shipped
		started int
	)
	record := func(op string, d time.Duration, r Result, stale bool) {
		mu.Lock()
		defer mu.Unlock()
		s := rep.Ops[op]
		if s == nil {
			s = &OpStats{Errors: map[string]int{}}
			rep.Ops[op] = s
		}
		s.Count++
		s.Latencies = append(s.Latencies, d)
		if stale {
			s.Stale++
		} else if !r.OK() {
			key := "transport"
			if r.Status != 0 {
				key = strconv.Itoa(r.Status)
			}
			s.Errors[key]++
		}
	}
	// take reserves one more operation; false when the run is over.
	take := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if runCtx.Err() != nil || (o.MaxOps > 0 && started >= o.MaxOps) {
			return false
		}
		started++
		return true
	}
	// An order to ship or read: ship takes it (an order ships once), get
	// leaves it.
	pickOrder := func(remove bool) (known, bool) {
		mu.Lock()
		defer mu.Unlock()
		if len(placed) == 0 {
			return known{}, false
		}
		i := len(placed) - 1
		id := placed[i]
		if remove {
			placed = placed[:i]
		}
		return id, true
	}

	lag := newLagObserver(c, rep.Stage == 3 && o.LagObservers > 0, o.LagObservers)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(w)))
			for take() {
				op := o.Mix.pick(rnd)
				var k known
				var ok bool
				switch op {
				case OpShip:
					if k, ok = pickOrder(true); !ok {
						op = OpPlace // nothing to ship yet: make something
					}
				case OpGet:
					if k, ok = pickOrder(false); !ok {
						op = OpList
					}
				}
				t0 := time.Now()
				var r Result
				switch op {
				case OpPlace:
					r = c.Place(runCtx)
				case OpShip:
					r = c.Ship(runCtx, k.id)
				case OpList:
					r = c.List(runCtx, o.ListLimit)
				case OpGet:
					r = c.Get(runCtx, k.id)
				}
				acked := time.Now()
				if runCtx.Err() != nil && r.Err != nil {
					return // cut off by the end of the run: not a failure
				}
				// A read that misses this run's own write: in stage 3 the
				// read side may not have it yet (404, or an older version).
				stale := op == OpGet && rep.Stage == 3 && (r.Status == http.StatusNotFound || r.OK() && r.Version < k.version)
				record(op, acked.Sub(t0), r, stale)
				if op == OpPlace && r.OK() {
					mu.Lock()
					placed = append(placed, known{r.ID, r.Version})
					mu.Unlock()
				}
				if (op == OpPlace || op == OpShip) && r.OK() && r.Version > 0 {
					lag.offer(r.ID, r.Version, acked)
				}
			}
		}()
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	rep.Lag, rep.LagTimeouts = lag.stop()
	return rep, nil
}

// known is an order this run placed and the version its command acked.
type known struct {
	id      order.ID
	version int
}

// lagObserver watches, for a few commands at a time, how long the read
// side takes to show the version a command acked.
type lagObserver struct {
	c        *Client
	in       chan pending
	wg       sync.WaitGroup
	mu       sync.Mutex
	lags     Sample
	timeouts int
	ctx      context.Context
	cancel   context.CancelFunc
}

type pending struct {
	id      order.ID
	version int
	acked   time.Time
}

func newLagObserver(c *Client, on bool, n int) *lagObserver {
	l := &lagObserver{c: c}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	if !on {
		return l
	}
	// Unbuffered: a command is sampled only if an observer is free at its
	// ack, so that no sample starts late.
	l.in = make(chan pending)
	for range n {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for p := range l.in {
				l.watch(p)
			}
		}()
	}
	return l
}

// offer hands a command's ack to a free observer, if there is one.
func (l *lagObserver) offer(id order.ID, version int, acked time.Time) {
	if l.in == nil {
		return
	}
	select {
	case l.in <- pending{id, version, acked}:
	default:
	}
}

// watch reads the order until it shows the version. It waits 1 ms, then
// half as long again each time, up to 10 ms or a tenth of the time waited
// so far: short lags are resolved finely and long ones to about 10 %,
// while the reads' own load stays small.
func (l *lagObserver) watch(p pending) {
	wait := time.Millisecond
	deadline := p.acked.Add(lagTimeout)
	for {
		r := l.c.Get(l.ctx, p.id)
		now := time.Now()
		if r.OK() && r.Version >= p.version {
			l.mu.Lock()
			l.lags = append(l.lags, now.Sub(p.acked))
			l.mu.Unlock()
			return
		}
		if now.After(deadline) || l.ctx.Err() != nil {
			l.mu.Lock()
			l.timeouts++
			l.mu.Unlock()
			return
		}
		time.Sleep(wait)
		wait = min(wait*3/2, max(10*time.Millisecond, now.Sub(p.acked)/10))
	}
}

// stop lets the observers finish the commands they watch and returns the
// lags seen.
func (l *lagObserver) stop() (Sample, int) {
	if l.in != nil {
		close(l.in)
	}
	l.wg.Wait()
	l.cancel()
	return l.lags, l.timeouts
}

// Print writes the report as a table.
func (r *Report) Print(w io.Writer) {
	secs := r.Elapsed.Seconds()
	fmt.Fprintf(w, "Staircase at %s, stage %d: %d clients for %s, mix %s\n\n", r.Base, r.Stage, r.Concurrency, r.Elapsed.Round(time.Millisecond), r.Mix)
	fmt.Fprintf(w, "%-6s %8s %9s %9s %9s %9s %7s\n", "op", "count", "ops/s", "p50 ms", "p90 ms", "p99 ms", "errors")
	for _, op := range ops {
		s := r.Ops[op]
		if s == nil {
			continue
		}
		errs := 0
		for _, n := range s.Errors {
			errs += n
		}
		fmt.Fprintf(w, "%-6s %8d %9.1f %9.2f %9.2f %9.2f %7d\n", op, s.Count, float64(s.Count)/secs,
			Millis(s.Latencies.Percentile(50)), Millis(s.Latencies.Percentile(90)), Millis(s.Latencies.Percentile(99)), errs)
	}
	fmt.Fprintf(w, "%-6s %8d %9.1f %39d\n", "total", r.Total(), float64(r.Total())/secs, r.Errors())
	if s := r.Ops[OpGet]; s != nil && s.Stale > 0 {
		fmt.Fprintf(w, "\nstale reads: %d of %d gets did not show yet the version this run's own command acked (read side behind)\n", s.Stale, s.Count)
	}
	if r.Errors() > 0 {
		fmt.Fprintln(w, "\nerrors by status:")
		for _, op := range ops {
			s := r.Ops[op]
			if s == nil {
				continue
			}
			keys := make([]string, 0, len(s.Errors))
			for k := range s.Errors {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(w, "  %-6s %-9s %d\n", op, k, s.Errors[k])
			}
		}
	}
	if r.Stage == 3 {
		fmt.Fprintf(w, "\nprojection lag (ack → first read showing the acked version), %d commands sampled", len(r.Lag))
		if r.LagTimeouts > 0 {
			fmt.Fprintf(w, ", %d not shown within %s", r.LagTimeouts, lagTimeout)
		}
		fmt.Fprintln(w)
		if len(r.Lag) > 0 {
			fmt.Fprintf(w, "  p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
				Millis(r.Lag.Percentile(50)), Millis(r.Lag.Percentile(99)), Millis(r.Lag.Percentile(100)))
		}
	}
}
