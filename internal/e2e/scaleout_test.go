package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/messaging/natstest"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/stages/stage3"
)

// TestTwoInstancesShareTheWork runs two stage 3 instances on one write
// database, one read database (PostgreSQL) and one NATS server, and checks
// that together they project every event exactly once and publish every
// event once, and that each of them does the group's work.
//
// Which instance a pull consumer hands a message to is up to JetStream
// (it rotates between waiting pull requests, but an instance between
// requests gets nothing), so the test does not require both to have
// applied events while both run: that would be flaky. It proves the
// sharing in three phases instead, each with an exact count:
//
//  1. A alone: A applies and publishes every event.
//  2. A and B, commands sent to both in turn: the events applied by A and
//     by B add up to exactly the events made (one durable consumer shared,
//     no copy delivered to both), and only A publishes (the relay's leader
//     lock). How the events split between them is logged.
//  3. A stopped, B alone: B takes over the relay from where A left it
//     (it publishes exactly the new events, not the old ones again) and
//     applies exactly the new events.
//
// Throughout, the stream holds exactly one message per change log event
// (Nats-Msg-Id dedup and the leader lock) and the read database agrees
// with the database of record event for event.
func TestTwoInstancesShareTheWork(t *testing.T) {
	natsURL, namespace := natstest.Shared(t) // its streams are deleted after the processes end
	if os.Getenv(sqltest.EnvPostgres) == "" || natsURL == "" {
		t.Skip("needs a shared PostgreSQL and NATS server: set " + sqltest.EnvPostgres + " and " + natstest.EnvNATS)
	}
	writeURL, readURL := sqltest.Postgres(t), sqltest.Postgres(t)
	js := jetStream(t, natsURL)
	args := []string{"--stage", "3", "--write-db", writeURL, "--read-db", readURL, "--nats-url", natsURL}
	env := "STAIRCASE_BUS_NAMESPACE=" + namespace
	write, read := openDB(t, writeURL, ""), openDB(t, readURL, "")

	// One after the other: a fresh database is migrated by the first.
	a := serve(t, "A", append(args, "--data-dir", t.TempDir()), env)
	s := &scaleOut{t: t, js: js, write: write, read: read,
		topic: namespace + messaging.EventsTopic, group: messaging.ConsumerName(namespace + messaging.ProjectorGroup),
		dashboard: messaging.ConsumerName(namespace + stage3.DashboardGroup)}

	// 1. A alone.
	s.orders(30, a, a)
	s.settled()
	events1 := s.events()
	s.counts(a, events1, events1)

	// 2. A and B.
	b := serve(t, "B", append(args, "--data-dir", t.TempDir()), env)
	s.orders(60, a, b)
	s.settled()
	events2 := s.events()
	var ma, mb map[string]float64
	eventually(t, 10*time.Second, "A and B have counted every event they applied", func() (bool, string) {
		ma, mb = a.metrics(t), b.metrics(t)
		return int(ma[mApplied]+mb[mApplied]) >= events2, fmt.Sprintf("A %v + B %v of %d", ma[mApplied], mb[mApplied], events2)
	})
	if got := int(ma[mApplied] + mb[mApplied]); got != events2 {
		t.Errorf("A and B applied %d events in all (A %v, B %v); %d were made", got, ma[mApplied], mb[mApplied], events2)
	}
	if int(ma[mPublished]) != events2 || mb[mPublished] != 0 {
		t.Errorf("published: A %v, B %v; want A %d (the relay's leader), B 0", ma[mPublished], mb[mPublished], events2)
	}
	shareA, shareB := int(ma[mApplied])-events1, int(mb[mApplied])
	t.Logf("phase 2: %d events; A applied %d, B applied %d (gap retries A %v, B %v; duplicates A %v, B %v)",
		events2-events1, shareA, shareB, ma[mGaps], mb[mGaps], ma[mDuplicate], mb[mDuplicate])
	if shareA == 0 || shareB == 0 {
		t.Logf("JetStream gave all of phase 2 to one instance this time; phase 3 shows B working alone")
	}

	// 3. B alone.
	a.stop()
	s.orders(20, b, b)
	s.settled()
	events3 := s.events()
	s.counts(b, shareB+events3-events2, events3-events2)
	m := b.metrics(t)
	if m[mStage] != 3 {
		t.Errorf("%s = %v on B, want 3", mStage, m[mStage])
	}
	pending := `staircase_bus_pending_messages{topic="` + s.topic + `"}`
	if v, ok := m[pending]; !ok || v != 0 {
		t.Errorf("%s = %v (exposed: %v), want 0 once settled", pending, v, ok)
	}
	if created := m[`staircase_http_requests_total{code="201"}`]; created < 20 {
		t.Errorf("B counted %v responses 201 Created; it placed at least 20 orders", created)
	}
}

// scaleOut is the state of TestTwoInstancesShareTheWork.
type scaleOut struct {
	t            *testing.T
	js           jetstream.JetStream
	topic, group string // the events topic and the projector's durable consumer
	dashboard    string // the dashboard projector's durable consumer
	write, read  *bun.DB
}

// orders places n orders and ships each, four at a time: order i is placed
// through one instance and shipped through the other (first and second
// swap roles every order). Every command must succeed.
func (s *scaleOut) orders(n int, first, second *proc) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 4)
	for i := range n {
		placeOn, shipOn := first, second
		if i%2 == 1 {
			placeOn, shipOn = second, first
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			id := order.NewID().String()
			if _, _, err := placeOn.command(ctx, "place-order", placeBody(id, "scale-out")); err != nil {
				errs <- fmt.Errorf("%s: %w", placeOn.name, err)
				return
			}
			if _, _, err := shipOn.command(ctx, "ship-order", map[string]any{"id": id}); err != nil {
				errs <- fmt.Errorf("%s: %w", shipOn.name, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		s.t.Fatalf("command failed: %v", err)
	}
}

// settled waits until the read database agrees with the database of
// record, then checks that the stream holds each event exactly once and
// that the instances read it through one durable consumer, now drained:
// instances with a consumer each would both get every event.
func (s *scaleOut) settled() {
	s.t.Helper()
	eventually(s.t, 45*time.Second, "the read database has every event, once", func() (bool, string) {
		return projected(context.Background(), s.write, s.read)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := messaging.StreamName(s.topic)
	st, err := s.js.Stream(ctx, name)
	if err != nil {
		s.t.Fatalf("stream %s: %v", name, err)
	}
	if events := s.events(); st.CachedInfo().State.Msgs != uint64(events) {
		s.t.Errorf("stream %s holds %d messages for %d change log events", name, st.CachedInfo().State.Msgs, events)
	}
	var consumers []string
	for c := range st.ConsumerNames(ctx).Name() {
		consumers = append(consumers, c)
	}
	slices.Sort(consumers)
	if want := []string{s.dashboard, s.group}; !slices.Equal(consumers, want) {
		s.t.Errorf("stream %s has consumers %v; want only the shared durables %v", name, consumers, want)
	}
	// The last acknowledgements may still be on their way.
	eventually(s.t, 10*time.Second, "the projector's consumer is drained", func() (bool, string) {
		c, err := st.Consumer(ctx, s.group)
		if err != nil {
			return false, err.Error()
		}
		info := c.CachedInfo()
		return info.NumPending == 0 && info.NumAckPending == 0,
			fmt.Sprintf("%d pending, %d unacknowledged", info.NumPending, info.NumAckPending)
	})
}

// events counts the change log.
func (s *scaleOut) events() int {
	s.t.Helper()
	n, err := count(context.Background(), s.write, "SELECT COUNT(*) FROM change_log")
	if err != nil {
		s.t.Fatal(err)
	}
	return n
}

// counts checks that p's counters reach exactly applied and published.
func (s *scaleOut) counts(p *proc, applied, published int) {
	s.t.Helper()
	var m map[string]float64
	eventually(s.t, 10*time.Second, p.name+" has counted every event it applied", func() (bool, string) {
		m = p.metrics(s.t)
		return int(m[mApplied]) >= applied, fmt.Sprintf("%v of %d", m[mApplied], applied)
	})
	if int(m[mApplied]) != applied || int(m[mPublished]) != published {
		s.t.Errorf("%s applied %v and published %v events; want %d and %d", p.name, m[mApplied], m[mPublished], applied, published)
	}
}

func jetStream(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
