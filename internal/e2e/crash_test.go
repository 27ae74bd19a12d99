package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/order"
)

// TestSIGKILLMidLoadLosesNothing kills stage 3 on its embedded engines
// (SQLite files, in-process NATS with JetStream on disk) with SIGKILL while
// commands pour in, starts it again on the same data, and checks that
// every command it acknowledged is in the database of record and reaches
// the read database through change log → bus → projector, each event
// exactly once.
//
// The second start is in stage 2, on purpose: stage 3's relay and
// projector run whichever stage is active, but entering stage 3 first
// syncs the read side from the database of record, which would paper over
// a lost event. In stage 2 the read side can only catch up through the
// events, and the query API reads the database of record.
//
// A mode can take a while after the restart: what the killed process had
// pulled from the bus and not acknowledged comes again only after the
// consumer's AckWait (stage 3 sets 10 s).
func TestSIGKILLMidLoadLosesNothing(t *testing.T) {
	modes := []string{"sync"}
	if hasFlag(t, "command-bus") {
		modes = append(modes, "async")
	}
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			sigkillMidLoad(t, mode)
		})
	}
	if len(modes) == 1 {
		t.Log("staircase serve has no --command-bus flag: the async mode is not tested")
	}
}

// hasFlag reports whether `staircase serve -h` lists the flag.
func hasFlag(t *testing.T, name string) bool {
	out, _ := exec.Command(binary, "serve", "-h").CombinedOutput()
	return strings.Contains(string(out), "-"+name+" ")
}

// load is what the load loop got acknowledged.
type load struct {
	mu sync.Mutex
	// want is the lowest version each acknowledged order must have: the
	// ETag of its last 2xx in sync mode; 1 for an accepted place-order and
	// 2 for an accepted ship-order in async mode.
	want     map[string]int
	commands int // acknowledged
	failures []string
}

func (l *load) ack(id string, v int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.want[id] = max(l.want[id], v)
	l.commands++
}

func (l *load) acked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.commands
}

func (l *load) fail(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, msg)
}

func sigkillMidLoad(t *testing.T, mode string) {
	dir := t.TempDir()
	args := []string{"--data-dir", dir}
	if hasFlag(t, "command-bus") {
		args = append(args, "--command-bus", mode)
	}
	first := serve(t, "first", append([]string{"--stage", "3"}, args...))

	// A few workers place an order and ship it, over and over, until the
	// process dies under them. An answer that never came (the connection
	// died) acknowledged nothing; only 2xx answers are recorded.
	const workers = 4
	perWorker := 250
	if mode == "async" {
		// Queuing is much faster than applying: bound what the restarted
		// process has to work through.
		perWorker = 100
	}
	planned := workers * perWorker * 2
	l := &load{want: map[string]int{}}
	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	var dead atomic.Bool // set just before the kill
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; i < perWorker && ctx.Err() == nil; i++ {
				id := order.NewID().String()
				st, v, err := first.command(ctx, "place-order", placeBody(id, fmt.Sprintf("worker %d", w)))
				if !l.record(id, st, v, 1, err, &dead) {
					return
				}
				st, v, err = first.command(ctx, "ship-order", map[string]any{"id": id})
				if !l.record(id, st, v, 2, err, &dead) {
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	// Kill mid-load: once half the planned commands are acknowledged,
	// however fast the machine is.
	start := time.Now()
	eventually(t, 60*time.Second, "half the planned commands are acknowledged", func() (bool, string) {
		select {
		case <-done:
			return true, ""
		default:
		}
		n := l.acked()
		return n >= planned/2, fmt.Sprintf("%d of %d acknowledged", n, planned)
	})
	select {
	case <-done:
		t.Logf("the load finished before the kill (%d commands acknowledged)", l.acked())
	default:
	}
	dead.Store(true)
	first.kill()
	stopLoad()
	wg.Wait()
	l.mu.Lock()
	if len(l.failures) > 0 {
		t.Errorf("commands failed before the kill: %s", strings.Join(l.failures[:min(5, len(l.failures))], "; "))
	}
	t.Logf("SIGKILL after %s: %d commands acknowledged for %d orders", time.Since(start).Round(time.Millisecond), l.commands, len(l.want))
	want := l.want
	l.mu.Unlock()

	write := openDB(t, "", filepath.Join(dir, "write.db"))
	read := openDB(t, "", filepath.Join(dir, "read.db"))
	bg := context.Background()
	if mode == "sync" {
		// The process is dead: what the database of record holds now is
		// what survived the crash.
		have, err := writeVersions(bg, write)
		if err != nil {
			t.Fatal(err)
		}
		for id, v := range want {
			if have[id] < v {
				t.Errorf("order %s: acknowledged at v%d, the database of record has v%d after the crash", id, v, have[id])
			}
		}
	}
	// What the read side held at the crash: every other event has to come
	// through the bus after the restart.
	before, err := count(bg, read, "SELECT COUNT(*) FROM order_history")
	if err != nil {
		t.Fatal(err)
	}

	second := serve(t, "second", append([]string{"--stage", "2"}, args...))
	// Messages the killed process had pulled and not acknowledged come
	// again only when their AckWait runs out: the catch-up may take that
	// long (at most messaging.DefaultAckWait), plus the work itself.
	catchUp := messaging.DefaultAckWait + 30*time.Second
	if mode == "async" {
		// Every accepted command waited on the bus and is applied now.
		eventually(t, catchUp, "every accepted command is applied", func() (bool, string) {
			have, err := writeVersions(bg, write)
			if err != nil {
				return false, err.Error()
			}
			missing := 0
			for id, v := range want {
				if have[id] < v {
					missing++
				}
			}
			return missing == 0, fmt.Sprintf("%d of %d orders not yet at their accepted version", missing, len(want))
		})
	}
	// The query API (stage 2: the database of record) has every order at
	// the acknowledged version or later.
	for id, v := range want {
		got, err := second.orderVersion(id)
		if err != nil {
			t.Fatal(err)
		}
		if got < v {
			t.Errorf("order %s: acknowledged at v%d, the API shows v%d after the restart", id, v, got)
		}
	}
	eventually(t, catchUp, "the read database has every event, once", func() (bool, string) {
		return projected(bg, write, read)
	})

	// Every event the read side lacked at the crash was applied by the
	// restarted process, exactly once.
	events, err := count(bg, write, "SELECT COUNT(*) FROM change_log")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]float64
	eventually(t, 10*time.Second, "the restarted process counts what it applied", func() (bool, string) {
		m = second.metrics(t)
		return int(m[mApplied]) >= events-before, fmt.Sprintf("%v applied", m[mApplied])
	})
	if int(m[mApplied]) != events-before {
		t.Errorf("the restarted process applied %v events; the read side lacked %d of %d at the crash", m[mApplied], events-before, events)
	}
	if m[mStage] != 2 {
		t.Errorf("%s = %v, want 2", mStage, m[mStage])
	}
	t.Logf("%d events, %d on the read side at the crash; after the restart: applied %v, duplicates ignored %v, gap retries %v",
		events, before, m[mApplied], m[mDuplicate], m[mGaps])
}

// record notes one answer; it returns false when the worker should stop
// (the process is gone or the load is over).
func (l *load) record(id string, status, version, asyncVersion int, err error, dead *atomic.Bool) bool {
	switch {
	case err == nil && status == http.StatusAccepted:
		l.ack(id, asyncVersion)
		return true
	case err == nil && version > 0:
		l.ack(id, version)
		return true
	case err == nil:
		l.fail(fmt.Sprintf("order %s: answered %d without the version it made", id, status))
		return false
	case dead.Load() || errors.Is(err, context.Canceled):
		return false
	default:
		l.fail(err.Error())
		return false
	}
}
