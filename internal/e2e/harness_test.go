package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/metrics"
	"github.com/staircase/staircase/internal/sqlstore"
)

// proc is one running `staircase serve`.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	base string // http://127.0.0.1:PORT
	log  *logBuffer

	exited chan struct{}
	err    error // Wait's result, once exited is closed
}

// serve starts `staircase serve` with args (and --addr 127.0.0.1:0: the
// process picks a free port and logs it) and the extra environment env,
// and waits until it answers /healthz. The process is killed when the
// test ends; if the test failed, its log is written to the test's.
func serve(t *testing.T, name string, args []string, env ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &proc{t: t, name: name, log: newLogBuffer(), exited: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, binary, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	p.cmd.Env = childEnv(env)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		cancel() // kills the process if it still runs
		<-p.exited
		if t.Failed() {
			t.Logf("%s (%s) logged:\n%s", name, strings.Join(p.cmd.Args[1:], " "), p.log.summary())
		}
	})
	// A cold start migrates the databases; on two busy cores that can take
	// a while, but never this long.
	select {
	case addr := <-p.log.addr:
		p.base = "http://" + addr
	case <-p.exited:
		t.Fatalf("%s exited before serving: %v", name, p.err)
	case <-time.After(90 * time.Second):
		t.Fatalf("%s did not report its address within 90 s", name)
	}
	eventually(t, 30*time.Second, name+" answers /healthz", func() (bool, string) {
		res, err := client.Get(p.base + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK, res.Status
	})
	return p
}

// childEnv is the test's environment without STAIRCASE_ settings, which
// would change what the flags say, plus env.
func childEnv(env []string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STAIRCASE_") {
			out = append(out, kv)
		}
	}
	return append(out, env...)
}

// kill ends the process with SIGKILL: no shutdown code runs.
func (p *proc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("kill %s: %v", p.name, err)
	}
	<-p.exited
}

// stop ends the process with SIGTERM and waits for its graceful shutdown.
func (p *proc) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("stop %s: %v", p.name, err)
	}
	select {
	case <-p.exited:
		if p.err != nil {
			p.t.Errorf("%s shut down with %v", p.name, p.err)
		}
	case <-time.After(40 * time.Second):
		p.t.Errorf("%s did not shut down within 40 s of SIGTERM; killing it", p.name)
		p.kill()
	}
}

// client talks to the processes; loopback only.
var client = &http.Client{Timeout: 15 * time.Second}

// command sends POST /api/commands/name and returns the status and the
// version the ETag names (0 if none).
func (p *proc) command(ctx context.Context, name string, body any) (status, version int, err error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/api/commands/"+name, bytes.NewReader(raw))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer res.Body.Close()
	msg, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, 0, err
	}
	if res.StatusCode >= 300 {
		return res.StatusCode, 0, fmt.Errorf("%s answered %s: %s", name, res.Status, bytes.TrimSpace(msg))
	}
	version, _ = strconv.Atoi(strings.Trim(res.Header.Get("ETag"), `"`))
	return res.StatusCode, version, nil
}

// orderVersion asks the process's query API for an order's version; 0 if
// it has none.
func (p *proc) orderVersion(id string) (int, error) {
	res, err := client.Get(p.base + "/api/queries/orders/" + id)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		return 0, nil
	}
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		return 0, fmt.Errorf("GET order %s: %s %s", id, res.Status, b)
	}
	var o struct {
		Version int `json:"version"`
	}
	if err := json.NewDecoder(res.Body).Decode(&o); err != nil {
		return 0, err
	}
	return o.Version, nil
}

// metrics scrapes the process's /metrics.
func (p *proc) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	res, err := client.Get(p.base + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", p.name, err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); res.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("scrape %s: %s with Content-Type %q", p.name, res.Status, ct)
	}
	m, err := metrics.Parse(res.Body)
	if err != nil {
		t.Fatalf("scrape %s: %v", p.name, err)
	}
	return m
}

// The metrics the tests read.
const (
	mApplied   = "staircase_projector_events_applied_total"
	mDuplicate = "staircase_projector_events_duplicate_total"
	mGaps      = "staircase_projector_gap_retries_total"
	mPublished = "staircase_relay_events_published_total"
	mStage     = "staircase_stage_active"
)

// placeBody is a valid place-order command for id.
func placeBody(id, customer string) map[string]any {
	return map[string]any{
		"id": id, "customer": customer, "address": "1 Crash Lane, Testville",
		"lines": []map[string]any{{"sku": "TEA-01", "name": "Green tea", "quantity": 2, "unit_price_cents": 1250}},
	}
}

// eventually polls cond until it holds or timeout passes, then fails the
// test with what cond said last. The bounds are generous: the machine may
// be busy; nothing here is a timing assertion.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for wait := 10 * time.Millisecond; ; wait = min(wait*2, 250*time.Millisecond) {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting until %s: %s", timeout, what, why)
		}
		time.Sleep(wait)
	}
}

// openDB opens a database the processes use (a SQLite file they share, or
// a PostgreSQL URL), closed when the test ends.
func openDB(t *testing.T, url, path string) *bun.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sqlstore.Open(ctx, url, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// writeVersions returns every order's version in the database of record.
func writeVersions(ctx context.Context, write *bun.DB) (map[string]int, error) {
	return versions(ctx, write, "SELECT id, version FROM orders")
}

func versions(ctx context.Context, db *bun.DB, query string) (map[string]int, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var v int
		if err := rows.Scan(&id, &v); err != nil {
			return nil, err
		}
		out[strings.ToLower(id)] = v
	}
	return out, rows.Err()
}

// versionLists returns, per order, the versions query lists (ordered), and
// how many rows it returned.
func versionLists(ctx context.Context, db *bun.DB, query string) (map[string][]int, int, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out, n := map[string][]int{}, 0
	for rows.Next() {
		var id string
		var v int
		if err := rows.Scan(&id, &v); err != nil {
			return nil, 0, err
		}
		id = strings.ToLower(id)
		out[id] = append(out[id], v)
		n++
	}
	return out, n, rows.Err()
}

func count(ctx context.Context, db *bun.DB, query string) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, query).Scan(&n)
	return n, err
}

// projected reports whether the read database agrees with the database of
// record event for event, and if not, why:
//   - the change log holds versions 1…v of every order at version v (the
//     events were appended in the write transactions);
//   - the read database has every order at the same version;
//   - its history has exactly one row for each of those versions, each from
//     an event (none "Synced" from the database of record), so it holds as
//     many rows as the change log: no event lost, none applied twice;
//   - no event is parked or held in the error log.
func projected(ctx context.Context, write, read *bun.DB) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	w, err := writeVersions(ctx, write)
	if err != nil {
		return false, "read the database of record: " + err.Error()
	}
	logged, nlog, err := versionLists(ctx, write, "SELECT order_id, order_version FROM change_log ORDER BY order_id, order_version")
	if err != nil {
		return false, "read the change log: " + err.Error()
	}
	r, err := versions(ctx, read, "SELECT id, version FROM order_views WHERE NOT deleted")
	if err != nil {
		return false, "read the read database: " + err.Error()
	}
	history, nhist, err := versionLists(ctx, read, "SELECT order_id, version FROM order_history ORDER BY order_id, version")
	if err != nil {
		return false, "read the history: " + err.Error()
	}
	synced, err := count(ctx, read, "SELECT COUNT(*) FROM order_history WHERE type = 'Synced'")
	if err != nil {
		return false, "read the history: " + err.Error()
	}
	// Replayed entries are events that waited and were then applied in
	// order; parked or held ones are stuck.
	errorLog, err := count(ctx, read, "SELECT COUNT(*) FROM error_log WHERE status IN ('parked', 'held')")
	if err != nil {
		return false, "read the error log: " + err.Error()
	}
	var problems []string
	add := func(format string, args ...any) {
		if len(problems) < 8 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	for id, v := range w {
		if !contiguous(logged[id], v) {
			add("order %s at v%d has change log versions %v", id, v, logged[id])
		}
		if r[id] != v {
			add("order %s: read side at v%d, database of record at v%d", id, r[id], v)
		}
		if !contiguous(history[id], v) {
			add("order %s at v%d has history versions %v", id, v, history[id])
		}
	}
	for id := range r {
		if _, ok := w[id]; !ok {
			add("order %s is on the read side only", id)
		}
	}
	if nhist != nlog {
		add("%d history rows for %d change log events", nhist, nlog)
	}
	if synced > 0 {
		add("%d history rows synced from the database of record instead of coming as events", synced)
	}
	if errorLog > 0 {
		add("%d events parked or held in the error log", errorLog)
	}
	if len(problems) > 0 {
		return false, fmt.Sprintf("%d orders, %d events; %s", len(w), nlog, strings.Join(problems, "; "))
	}
	return true, ""
}

// contiguous reports whether vs is exactly 1, 2, …, v.
func contiguous(vs []int, v int) bool {
	if len(vs) != v {
		return false
	}
	for i, x := range vs {
		if x != i+1 {
			return false
		}
	}
	return true
}

// logBuffer keeps a process's log and reports the address it serves on.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
	addr    chan string
}

func newLogBuffer() *logBuffer { return &logBuffer{addr: make(chan string, 1)} }

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(l.partial[:i], &rec) == nil && rec.Msg == "staircase serving" && rec.Addr != "" {
			select {
			case l.addr <- rec.Addr:
			default:
			}
		}
		l.partial = append(l.partial[:0], l.partial[i+1:]...)
	}
	return len(p), nil
}

// lines returns the log's lines that name one of the request IDs.
func (l *logBuffer) lines(requestIDs []string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.buf.String(), "\n") {
		for _, id := range requestIDs {
			if strings.Contains(line, `"request_id":"`+id+`"`) {
				out = append(out, line)
				break
			}
		}
	}
	return out
}

// summary is what a failed test shows of the log: its warnings and errors
// (the access log makes the whole too long to read) and its last lines.
func (l *logBuffer) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := strings.Split(strings.TrimRight(l.buf.String(), "\n"), "\n")
	var b strings.Builder
	shown := 0
	for _, line := range lines {
		if (strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) || !strings.HasPrefix(line, "{")) && shown < 60 {
			b.WriteString(line + "\n")
			shown++
		}
	}
	b.WriteString("… last lines:\n")
	for _, line := range lines[max(0, len(lines)-15):] {
		b.WriteString(line + "\n")
	}
	return b.String()
}
