package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
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

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
)

// The scale-out chaos test's settings, from the environment.
const (
	envScaleCommands = "STAIRCASE_SCALE_COMMANDS" // commands to send in all (default 800)
	envScaleClients  = "STAIRCASE_SCALE_CLIENTS"  // clients sending them at once (default 16)
	envScaleRate     = "STAIRCASE_SCALE_RATE"     // commands per second at most (default: commands/30)
)

// TestScaleOutSurvivesKills runs stage 3 split over processes by role, on
// PostgreSQL and a three-node NATS JetStream cluster with every stream at
// R3 — two web processes (async command bus, no write database), one
// commands process, two relays (one active, one waiting for the leader
// lock), two projectors — and puts load through both web processes while
// it SIGKILLs, each at its own moment and each started again after:
//
//   - one projector (its entry leaves the process registry, which the
//     test waits for, before it is started again);
//   - the relay leader (the other relay takes the lock over);
//   - the commands process (the command it held comes back after the
//     bus's ack wait);
//   - one NATS node (the clients reconnect to the others; the streams
//     keep a quorum).
//
// Then every acknowledged command must have been applied exactly once
// (processed_commands and the orders' versions), every event projected
// exactly once (one history row per change log event, none synced from
// the database of record), and the read side must equal the write side
// row by row. A line says the counts and how long the read side took to
// converge after the load ended. `make scale-chaos` runs it bigger.
func TestScaleOutSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("the scale-out test takes a minute or more")
	}
	if os.Getenv(sqltest.EnvPostgres) == "" {
		t.Skip("scale-out NOT tested: the processes share PostgreSQL; set " + sqltest.EnvPostgres)
	}
	cluster := startNATSCluster(t)
	commands := envInt(t, envScaleCommands, 800)
	clients := envInt(t, envScaleClients, 16)
	rate := envInt(t, envScaleRate, max(commands/30, 1))

	writeURL, readURL := sqltest.Postgres(t), sqltest.Postgres(t)
	write, read := openDB(t, writeURL, ""), openDB(t, readURL, "")
	base := []string{"--stage", "3", "--command-bus", "async", "--read-db", readURL,
		"--nats-url", cluster.urls(), "--stream-replicas", "3"}
	withWrite := append(append([]string(nil), base...), "--write-db", writeURL)
	role := func(name, roles string, args []string) *roleProc {
		return startRole(t, name, append(append([]string(nil), args...), "--roles", roles, "--data-dir", t.TempDir()))
	}
	// One at a time: the first migrates the databases.
	cmds := role("commands", "commands", withWrite)
	relays := []*roleProc{role("relay-1", "relay", withWrite), role("relay-2", "relay", withWrite)}
	projectors := []*roleProc{role("projector-1", "projector", withWrite), role("projector-2", "projector", withWrite)}
	webs := []*roleProc{role("web-1", "web", base), role("web-2", "web", base)}

	// Every process is in the registry, and the streams are at R3.
	eventually(t, 20*time.Second, "the process registry lists the 7 processes", func() (bool, string) {
		n, err := registered(webs[0])
		return err == nil && n == 7, fmt.Sprintf("%d (%v)", n, err)
	})
	// A process without the web role serves no pages.
	if res, err := client.Get(cmds.url() + "/orders"); err != nil {
		t.Fatal(err)
	} else {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound || res.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(b), "served by the web processes") {
			t.Errorf("GET /orders on the commands process answered %s %q: %s", res.Status, res.Header.Get("Content-Type"), b)
		}
	}
	js := jetStream(t, cluster.urls())
	for _, topic := range []string{messaging.EventsTopic, messaging.CommandsTopic} {
		eventually(t, 20*time.Second, "stream "+topic+" exists", func() (bool, string) {
			st, err := js.Stream(context.Background(), messaging.StreamName(topic))
			if err != nil {
				return false, err.Error()
			}
			if r := st.CachedInfo().Config.Replicas; r != 3 {
				t.Fatalf("stream %s has %d replicas, want 3", topic, r)
			}
			return true, ""
		})
	}

	load := &chaosLoad{db: write, quota: int64(commands), interval: time.Second / time.Duration(rate)}
	for _, w := range webs {
		load.webs = append(load.webs, w)
	}
	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	httpClient := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d commands from %d clients at %d/s at most, through %d web processes", seed, commands, clients, rate, len(webs))
	var wg sync.WaitGroup
	for i := range clients {
		c := &chaosClient{n: i, load: load, rng: rand.New(rand.NewPCG(seed, uint64(i))), http: httpClient}
		wg.Go(func() { c.run(ctx) })
	}
	loadDone := make(chan struct{})
	go func() { wg.Wait(); close(loadDone) }()
	start := time.Now()

	var ran faultLog
	var lastRestart time.Time
	faults := []chaosFault{
		{0.15, "SIGKILL a projector", func() {
			projectors[0].p.kill()
			killed := time.Now()
			eventually(t, 20*time.Second, "the killed projector leaves the process registry", func() (bool, string) {
				n, err := registered(webs[0])
				return err == nil && n == 6, fmt.Sprintf("%d processes listed (%v)", n, err)
			})
			gone := time.Since(killed)
			projectors[0].restart()
			lastRestart = time.Now()
			ran.add("projector SIGKILLed (gone from the registry after %.1f s) and restarted", gone.Seconds())
		}},
		{0.35, "SIGKILL the relay leader", func() {
			leader := relayLeader(t, relays)
			leader.p.kill()
			time.Sleep(time.Second)
			leader.restart()
			lastRestart = time.Now()
			ran.add("relay leader %s SIGKILLed and restarted", leader.name)
		}},
		{0.55, "SIGKILL the commands process", func() {
			cmds.p.kill()
			time.Sleep(time.Second)
			cmds.restart()
			lastRestart = time.Now()
			ran.add("commands process SIGKILLed and restarted")
		}},
		{0.75, "SIGKILL a NATS node", func() {
			cluster.kill(2)
			time.Sleep(2 * time.Second)
			cluster.restart(2)
			lastRestart = time.Now()
			ran.add("NATS node 2 SIGKILLed and restarted")
		}},
	}
	runFaults(t, faults, load, loadDone, start, envScaleRate)
	loadEnd := time.Now()
	t.Logf("%5.1fs load done: %d commands sent", loadEnd.Sub(start).Seconds(), load.sent.Load())

	// Every queued command handled, every event projected once, the read
	// side equal to the write side.
	bg := context.Background()
	load.mu.Lock()
	sent := append([]*sentCommand(nil), load.commands...)
	load.mu.Unlock()
	about := history(sent, start)
	const within = 2 * time.Minute
	from := loadEnd
	if lastRestart.After(from) {
		from = lastRestart
	}
	converged, why := false, ""
	for deadline := from.Add(within); ; {
		waiting := 0
		for _, c := range sent {
			if c.outcome == outAcked && c.commandID != "" {
				if st, _, err := processedCommand(bg, write, c.commandID); err != nil || st == "" {
					waiting++
				}
			}
		}
		ok, whyNot := projected(bg, write, read)
		d, err := compareSides(bg, write, read, about)
		switch {
		case waiting > 0:
			why = fmt.Sprintf("%d queued commands not handled yet", waiting)
		case !ok:
			why = whyNot
		case err != nil:
			why = err.Error()
		case !d.empty():
			why = d.String()
		default:
			converged = true
		}
		if converged || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	convergeSecs := time.Since(from).Seconds()

	tl, err := tally(bg, write, sent)
	if err != nil {
		t.Fatal(err)
	}
	events, err := count(bg, write, "SELECT COUNT(*) FROM change_log")
	if err != nil {
		t.Fatal(err)
	}
	historyRows, err := count(bg, read, "SELECT COUNT(*) FROM order_history")
	if err != nil {
		t.Fatal(err)
	}
	convergedText := fmt.Sprintf("%.1f s after the load and the last restart", convergeSecs)
	if !converged {
		convergedText = fmt.Sprintf("NOT within %s", within)
	}
	summary := fmt.Sprintf("scale-out postgres+3-node NATS R3, 2 web/1 commands/2 relay/2 projector: sent %d, accepted %d, applied %d, lost %d, duplicated %d, unknown %d, rejected %d (+%d queued then rejected); events %d, projected %d; read side = write side %s; faults: %s",
		tl.sent, tl.accepted, tl.applied, tl.lost, tl.duplicated, tl.unknown, tl.rejected, tl.handledRejected, events, historyRows, convergedText, ran.String())
	t.Log(summary)
	fmt.Println(summary)

	if tl.lost > 0 || tl.duplicated > 0 {
		t.Errorf("%d acknowledged commands lost, %d effects duplicated:%s", tl.lost, tl.duplicated, tl.report(commandLog(sent, start, nil)))
	}
	if tl.accepted == 0 || tl.applied < tl.accepted/2 {
		t.Errorf("only %d of %d commands accepted and %d applied: the run proves little", tl.accepted, tl.sent, tl.applied)
	}
	if !converged {
		t.Errorf("the read side does not equal the database of record %s after the load: %s", within, why)
	}
	if converged && convergeSecs > 5 {
		// Not a timing assertion (the machine may be busy): worth a look.
		t.Logf("the read side took %.1f s (more than 5 s) to converge; the write side's and projectors' warnings:", convergeSecs)
		for _, p := range append(append([]*roleProc{cmds}, relays...), projectors...) {
			t.Logf("%s:\n%s", p.p.name, p.p.log.summary())
		}
	}
}

// roleProc is one process of a role, started again after a kill with the
// same arguments (on a new port).
type roleProc struct {
	t    *testing.T
	name string
	args []string
	p    *proc
	base atomic.Pointer[string]
	runs int
}

func startRole(t *testing.T, name string, args []string) *roleProc {
	r := &roleProc{t: t, name: name, args: args}
	r.restart()
	return r
}

// restart starts the process (again).
func (r *roleProc) restart() {
	r.t.Helper()
	r.runs++
	r.p = serve(r.t, fmt.Sprintf("%s#%d", r.name, r.runs), r.args)
	base := r.p.base
	r.base.Store(&base)
}

func (r *roleProc) url() string { return *r.base.Load() }

// relayLeader is the relay that holds the leader lock: the one that has
// published events (the other waits, publishing none).
func relayLeader(t *testing.T, relays []*roleProc) *roleProc {
	t.Helper()
	var leader *roleProc
	eventually(t, 20*time.Second, "one relay has published events", func() (bool, string) {
		var seen []string
		for _, r := range relays {
			n := r.p.metrics(t)[mPublished]
			seen = append(seen, fmt.Sprintf("%s %v", r.name, n))
			if n > 0 {
				leader = r
				return true, ""
			}
		}
		return false, strings.Join(seen, ", ")
	})
	return leader
}

var processCount = regexp.MustCompile(`data-testid="processes-panel"[^>]*data-count="(\d+)"`)

// registered is how many processes the Architecture page's processes
// panel lists.
func registered(web *roleProc) (int, error) {
	res, err := client.Get(web.url() + "/architecture/processes")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, err
	}
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %.200s", res.Status, b)
	}
	m := processCount.FindSubmatch(b)
	if m == nil {
		return 0, fmt.Errorf("no processes panel in %.300s", b)
	}
	return strconv.Atoi(string(m[1]))
}

// natsCluster is a three-node NATS JetStream cluster the test owns,
// started and stopped with .ci/nats-cluster.
type natsCluster struct {
	t      *testing.T
	dir    string
	script string
}

func startNATSCluster(t *testing.T) *natsCluster {
	t.Helper()
	if !fileExists(natsServerBinary) {
		msg := natsServerBinary + " is not installed (apt-get install nats-server): the NATS cluster needs it"
		if os.Getenv("CI") != "" {
			t.Fatal(msg) // .ci/run installs it
		}
		t.Skip("scale-out NOT tested: " + msg)
	}
	script, err := filepath.Abs(filepath.Join("..", "..", ".ci", "nats-cluster"))
	if err != nil {
		t.Fatal(err)
	}
	c := &natsCluster{t: t, dir: filepath.Join(t.TempDir(), "nats"), script: script}
	t.Cleanup(func() {
		if out, err := exec.Command(c.script, "stop", c.dir).CombinedOutput(); err != nil {
			t.Errorf("stop the NATS cluster: %v\n%s", err, out)
		}
		if t.Failed() {
			for n := 1; n <= 3; n++ {
				if b, err := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("n%d.log", n))); err == nil {
					lines := strings.Split(strings.TrimSpace(string(b)), "\n")
					t.Logf("NATS node %d, last lines:\n%s", n, strings.Join(lines[max(0, len(lines)-15):], "\n"))
				}
			}
		}
	})
	c.run("start", c.dir)
	return c
}

func (c *natsCluster) run(args ...string) string {
	c.t.Helper()
	out, err := exec.Command(c.script, args...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		c.t.Fatalf("%s %s: %v\n%s", c.script, strings.Join(args, " "), err, msg)
	}
	return strings.TrimSpace(string(out))
}

// urls are the three nodes' client URLs, comma-separated.
func (c *natsCluster) urls() string { return c.run("urls", c.dir) }

func (c *natsCluster) kill(n int)    { c.run("kill", c.dir, strconv.Itoa(n)) }
func (c *natsCluster) restart(n int) { c.run("restart", c.dir, strconv.Itoa(n)) }
