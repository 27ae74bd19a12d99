package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/sqlstore"
)

// chaosApp is the `staircase serve` under chaos: one process at a time,
// restarted on the same data dir and databases after a SIGKILL. Clients
// read its address before each request: a restart serves on a new port.
type chaosApp struct {
	t    *testing.T
	args []string
	env  []string

	p        *proc
	base     atomic.Pointer[string]
	restarts int
	all      []*proc // p and the processes before it, for their logs
}

func startChaosApp(t *testing.T, args []string, env ...string) *chaosApp {
	a := &chaosApp{t: t, args: args, env: env}
	a.start()
	return a
}

func (a *chaosApp) start() {
	a.t.Helper()
	a.p = serve(a.t, fmt.Sprintf("app#%d", a.restarts+1), a.args, a.env...)
	a.all = append(a.all, a.p)
	base := a.p.base
	a.base.Store(&base)
}

// url is the running process's address ("" between a kill and the
// restart's first answer is never seen: the old address then refuses).
func (a *chaosApp) url() string { return *a.base.Load() }

// killAndRestart SIGKILLs the process and starts it again on the same
// data: with the embedded engines this restarts NATS too.
func (a *chaosApp) killAndRestart() {
	a.t.Helper()
	a.p.kill()
	a.restarts++
	a.start()
}

// requestLog returns the lines of the app's logs, of every process it ran,
// that name one of the request IDs, each after its process's name.
func (a *chaosApp) requestLog(ids []string) []string {
	var out []string
	for _, p := range a.all {
		for _, l := range p.log.lines(ids) {
			out = append(out, p.name+" "+l)
		}
	}
	return out
}

// natsServer is an external nats-server the test owns: on a free loopback
// port with its own JetStream store, so that the test may kill and
// restart it (never the machine's shared server).
type natsServer struct {
	t      *testing.T
	port   int
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
	log    *logBuffer
	starts int
}

// natsServerBinary is Debian's nats-server.
const natsServerBinary = "/usr/sbin/nats-server"

func startNATSServer(t *testing.T) *natsServer {
	t.Helper()
	if !fileExists(natsServerBinary) {
		t.Skip(natsServerBinary + " is not installed (apt-get install nats-server): the external NATS variant needs it")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	n := &natsServer{t: t, port: port, dir: filepath.Join(t.TempDir(), "nats"), log: newLogBuffer()}
	n.start()
	t.Cleanup(func() {
		n.stopProcess()
		if t.Failed() {
			t.Logf("nats-server logged:\n%s", n.log.summary())
		}
	})
	return n
}

func (n *natsServer) url() string { return "nats://127.0.0.1:" + strconv.Itoa(n.port) }

func (n *natsServer) start() {
	n.t.Helper()
	n.starts++
	n.cmd = exec.Command(natsServerBinary, "-a", "127.0.0.1", "-p", strconv.Itoa(n.port), "-js", "-sd", n.dir)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	n.exited = make(chan struct{})
	if err := n.cmd.Start(); err != nil {
		n.t.Fatalf("start nats-server: %v", err)
	}
	exited := n.exited
	go func() { _ = n.cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(n.port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			n.t.Fatalf("nats-server exited at start:\n%s", n.log.summary())
		default:
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("nats-server does not accept connections on %d: %v", n.port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *natsServer) stopProcess() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.exited
}

// restart SIGKILLs nats-server and starts it again on the same port and
// store after down.
func (n *natsServer) restart(down time.Duration) {
	n.t.Helper()
	n.stopProcess()
	time.Sleep(down)
	n.start()
}

// writeOutage takes the database of record away for a while and gives it
// back.
type writeOutage interface {
	// begin takes the database away; end gives it back.
	begin(ctx context.Context) error
	end(ctx context.Context) error
}

// sqliteOutage holds SQLite's write lock (BEGIN EXCLUSIVE) on the write
// database file: every write of the app waits for its busy timeout and
// fails.
type sqliteOutage struct {
	path string
	db   *sql.DB
	conn *sql.Conn
}

func (o *sqliteOutage) begin(ctx context.Context) error {
	db, err := sqlstore.Open(ctx, "", o.path)
	if err != nil {
		return err
	}
	o.db = db.DB
	conn, err := o.db.Conn(ctx)
	if err != nil {
		return err
	}
	o.conn = conn
	// The app's writers hold the lock for milliseconds; the busy timeout
	// (sqlstore sets 10 s) gets it.
	_, err = conn.ExecContext(ctx, "BEGIN EXCLUSIVE")
	return err
}

func (o *sqliteOutage) end(ctx context.Context) error {
	var errs []error
	if o.conn != nil {
		_, err := o.conn.ExecContext(ctx, "ROLLBACK")
		errs = append(errs, err, o.conn.Close())
	}
	if o.db != nil {
		errs = append(errs, o.db.Close())
	}
	return errors.Join(errs...)
}

// postgresOutage refuses new connections to the write database and ends
// the ones it has, then allows them again.
type postgresOutage struct {
	adminURL, dbURL string
	admin           *sql.DB
}

func (o *postgresOutage) name() (string, error) {
	u, err := url.Parse(o.dbURL)
	if err != nil {
		return "", err
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" || strings.ContainsAny(name, `"; `) {
		return "", fmt.Errorf("write database name %q", name)
	}
	return name, nil
}

func (o *postgresOutage) begin(ctx context.Context) error {
	name, err := o.name()
	if err != nil {
		return err
	}
	if o.admin, err = sql.Open("pgx", o.adminURL); err != nil {
		return err
	}
	if _, err := o.admin.ExecContext(ctx, `ALTER DATABASE "`+name+`" ALLOW_CONNECTIONS false`); err != nil {
		return err
	}
	_, err = o.admin.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name)
	return err
}

func (o *postgresOutage) end(ctx context.Context) error {
	name, err := o.name()
	if err != nil {
		return err
	}
	if o.admin == nil {
		return nil
	}
	defer o.admin.Close()
	_, err = o.admin.ExecContext(ctx, `ALTER DATABASE "`+name+`" ALLOW_CONNECTIONS true`)
	return err
}

// stageSwitcher switches the app's active stage and returns once the new
// stage is active. uiSwitcher does it through the UI; a JSON admin API
// (PUT /api/admin/stage) can take its place with another implementation.
type stageSwitcher interface {
	switchTo(ctx context.Context, base string, n int) error
}

// uiSwitcher uses the stage switcher of the pages: POST /stage with the
// CSRF token of a page (and its cookie). Entering stage 3 may run in the
// background (a rebuild with a progress page): it then waits until
// /healthz reports the stage.
type uiSwitcher struct{}

var csrfInput = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func (uiSwitcher) switchTo(ctx context.Context, base string, n int) error {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/orders/new", nil)
	if err != nil {
		return err
	}
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	page, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return err
	}
	m := csrfInput.FindSubmatch(page)
	if m == nil {
		return fmt.Errorf("GET /orders/new (%s) has no CSRF token", res.Status)
	}
	form := url.Values{"_csrf": {string(m[1])}, "stage": {strconv.Itoa(n)}}
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, base+"/stage", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Referer", base+"/orders")
	res, err = c.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("POST /stage %d: %s: %.300s", n, res.Status, body)
	}
	return waitForStage(ctx, base, n, 2*time.Minute)
}

// waitForStage polls /healthz until it reports stage n.
func waitForStage(ctx context.Context, base string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		st, err := activeStage(ctx, base)
		if err == nil && st == n {
			return nil
		}
		last = fmt.Sprintf("stage %d, %v", st, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("stage %d not active after %s (last: %s)", n, timeout, last)
}

// activeStage asks /healthz which stage is active.
func activeStage(ctx context.Context, base string) (int, error) {
	var h struct {
		Stage int `json:"stage"`
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return -1, err
	}
	res, err := client.Do(req)
	if err != nil {
		return -1, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return -1, fmt.Errorf("/healthz: %s", res.Status)
	}
	err = jsonDecode(res.Body, &h)
	return h.Stage, err
}

// faultLog lists the faults that ran, for the summary.
type faultLog struct {
	mu    sync.Mutex
	items []string
}

func (f *faultLog) add(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items = append(f.items, fmt.Sprintf(format, args...))
}

func (f *faultLog) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.items, ", ")
}

// envInt reads a positive whole number from the environment.
func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive whole number", name, v)
	}
	return n
}
