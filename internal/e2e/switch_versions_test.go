package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
)

// envSwitchCycles sets how often TestVersionsAcrossSwitches goes round the
// stages (default 3).
const envSwitchCycles = "STAIRCASE_SWITCH_CYCLES"

// TestVersionsAcrossSwitches hammers a few orders, each changed again and
// again by one client, while the stages switch live under them:
// 3→0→3→2→3→1→3, round after round, as fast as the switches go. Each client
// sends one change at a time, so every change its order acknowledges must
// have made the next version: an acknowledged version seen twice (one
// change answered for another's effect, or a change applied over a stale
// read) or skipped (a change applied twice) fails, and so does an order
// that does not end at its last acknowledged version. The chaos test makes
// the same check over all its faults; this one spends its time on the
// switches alone, with long-lived orders that cross many of them.
//
// It runs on SQLite with the embedded NATS and, when STAIRCASE_TEST_POSTGRES
// is set, on PostgreSQL with an external nats-server, command bus sync.
func TestVersionsAcrossSwitches(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the app and switches its stages under load")
	}
	cycles := envInt(t, envSwitchCycles, 3)
	backends := []string{"sqlite"}
	if os.Getenv(sqltest.EnvPostgres) != "" {
		backends = append(backends, "postgres")
	}
	for _, b := range backends {
		t.Run(b, func(t *testing.T) { versionsAcrossSwitches(t, b == "postgres", cycles) })
	}
}

func versionsAcrossSwitches(t *testing.T, postgres bool, cycles int) {
	dir := t.TempDir()
	args := []string{"--stage", "3", "--command-bus", "sync", "--data-dir", dir}
	writeURL, writePath := "", filepath.Join(dir, "write.db")
	if postgres {
		writeURL, writePath = sqltest.Postgres(t), ""
		nats := startNATSServer(t)
		args = append(args, "--write-db", writeURL, "--read-db", sqltest.Postgres(t), "--nats-url", nats.url())
	}
	app := startChaosApp(t, args)
	write := openDB(t, writeURL, writePath)

	const clients = 12
	load := &chaosLoad{db: write, app: app, quota: 1 << 40}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	httpClient := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d clients, %d rounds of switches", seed, clients, cycles)
	var wg sync.WaitGroup
	for i := range clients {
		c := &chaosClient{n: i, load: load, rng: rand.New(rand.NewPCG(seed, uint64(i))), http: httpClient}
		wg.Go(func() { c.changeAgain(ctx) })
	}
	start := time.Now()
	for round := range cycles {
		for _, n := range []int{0, 3, 2, 3, 1, 3} {
			switchWhenFree(t, app, n)
			// A few changes on each stage before the next switch.
			from := load.sent.Load()
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && load.sent.Load()-from < 2*clients; {
				time.Sleep(10 * time.Millisecond)
			}
		}
		t.Logf("%5.1fs round %d: %d commands sent, %d rerouted", time.Since(start).Seconds(), round+1, load.sent.Load(), load.rerouted.Load())
	}
	stop()
	wg.Wait()

	load.mu.Lock()
	commands := append([]*sentCommand(nil), load.commands...)
	load.mu.Unlock()
	problems, err := versionProblems(context.Background(), write, commands)
	if err != nil {
		t.Fatal(err)
	}
	acked := 0
	for _, c := range commands {
		if c.outcome == outAcked {
			acked++
		}
	}
	if acked < 10*clients {
		t.Errorf("only %d of %d commands acknowledged: the run proves little", acked, len(commands))
	}
	if len(problems) > 0 {
		var b strings.Builder
		for i, p := range problems {
			fmt.Fprintf(&b, "\n  %s", p.what)
			if i >= 3 {
				continue
			}
			// The order's commands around the first that disagrees, and the
			// app's log of them.
			about := commandLog(p.around, start, app.requestLog)
			fmt.Fprintf(&b, "\n      %s\n      %s", orderRecord(context.Background(), write, p.order),
				strings.ReplaceAll(about(p.order), "\n", "\n      "))
		}
		t.Errorf("%d orders' versions disagree with their acknowledged changes:%s", len(problems), b.String())
	}
}

// switchWhenFree switches to stage n, waiting while another switch (or
// the rebuild one rides on) runs.
func switchWhenFree(t *testing.T, app *chaosApp, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for {
		err := (uiSwitcher{}).switchTo(ctx, app.url(), n)
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "409") || ctx.Err() != nil {
			t.Fatalf("switch to stage %d: %v", n, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// changeAgain places an order and changes its lines, one change at a time,
// until ctx ends; after a change whose outcome it does not know it goes on
// with a new order.
func (c *chaosClient) changeAgain(ctx context.Context) {
	for ctx.Err() == nil {
		id := order.NewID().String()
		for name := cPlace; ctx.Err() == nil; name = cLines {
			if !c.load.take(ctx) {
				return
			}
			sc := c.send(ctx, id, name)
			c.load.record(sc)
			if sc.outcome != outAcked {
				sleep(ctx, 100*time.Millisecond)
				break
			}
		}
	}
}

// versionProblem is an order whose versions disagree with what its client
// was told.
type versionProblem struct {
	order, what string
	around      []*sentCommand // the order's commands around the first that disagrees
}

// versionProblems checks each order, whose commands one client sent one
// at a time, against the database of record: each acknowledged command
// made the version after the one before it (1 for the place-order), and
// the order is at its last acknowledged version, or one past it when the
// last command's outcome is unknown.
func versionProblems(ctx context.Context, write *bun.DB, commands []*sentCommand) ([]versionProblem, error) {
	final, err := writeVersions(ctx, write)
	if err != nil {
		return nil, err
	}
	byOrder := map[string][]*sentCommand{}
	var ids []string
	for _, c := range commands {
		if _, ok := byOrder[c.order]; !ok {
			ids = append(ids, c.order)
		}
		byOrder[c.order] = append(byOrder[c.order], c)
	}
	var out []versionProblem
	for _, id := range ids {
		cs := byOrder[id]
		want, unknown, first := 0, false, len(cs)-1
		var bad []string
		for i, c := range cs {
			switch c.outcome {
			case outAcked:
				if c.version != want+1 {
					if len(bad) == 0 {
						first = i
					}
					if len(bad) < 5 {
						bad = append(bad, fmt.Sprintf("%s (%s) acknowledged v%d after v%d", c.name, c.requestID, c.version, want))
					}
				}
				want = c.version
			case outUnknown:
				unknown = true
			}
		}
		v := final[id]
		if v != want && !(unknown && v == want+1) {
			bad = append(bad, fmt.Sprintf("the database of record has v%d, the last acknowledged is v%d", v, want))
		}
		if len(bad) > 0 && len(out) < 20 {
			out = append(out, versionProblem{order: id, what: "order " + id + ": " + strings.Join(bad, "; "),
				around: cs[max(0, first-5):min(len(cs), first+5)]})
		}
	}
	return out, nil
}
