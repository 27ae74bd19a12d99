package stage3

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// readyTimeout bounds each readiness check: a part that does not answer in
// this long is down as far as a request is concerned.
const readyTimeout = 2 * time.Second

// Readiness reports the stage's parts for /readyz: the databases, the bus,
// the relay and the projector, with how far behind the last two are.
//
// The stage can serve while its read database answers (every query reads
// it) and its commands have somewhere to go: the write database when they
// are applied in the request, the bus when they are queued on it. Anything
// else down or behind only degrades it: reads lag, commands wait.
func (s *Stage) Readiness(ctx context.Context) stageview.Readiness {
	async := s.asyncCommands()
	write := stageview.Component{Key: "write_db", Name: "write database", State: stageview.Up, Essential: !async}
	if err := tableAnswers(ctx, s.cfg.Write, "orders"); err != nil {
		write.State, write.Reason = stageview.Down, "does not answer ("+err.Error()+"): commands fail"
		if async {
			write.Reason = "does not answer (" + err.Error() + "): commands wait on the bus"
		}
	}
	read := stageview.Component{Key: "read_db", Name: "read database", State: stageview.Up, Essential: true}
	if err := tableAnswers(ctx, s.cfg.Read, projection.Live.Orders); err != nil {
		read.State, read.Reason = stageview.Down, "does not answer ("+err.Error()+"): reads fail; rebuild it from the architecture page"
	}

	bus := stageview.Component{Key: "bus", Name: "event bus", State: stageview.Up, Essential: async}
	if !s.cfg.NATS.IsConnected() {
		bus.State, bus.Reason = stageview.Down, "not connected: events wait in the change log"
		if async {
			bus.Reason = "not connected: commands cannot be queued"
		}
	}

	relay := stageview.Component{Key: "relay", Name: "relay", State: stageview.Up}
	if write.State == stageview.Up {
		if n, oldest, err := s.unpublished(ctx); err != nil {
			relay.State, relay.Reason = stageview.Degraded, "its position cannot be read: "+err.Error()
		} else {
			backlog := float64(n)
			relay.Backlog = &backlog
			lag := 0.0
			if !oldest.IsZero() {
				lag = max(0, time.Since(oldest).Seconds())
			}
			relay.Lag = &lag
			if lag >= lagWarn.Seconds() {
				relay.State = stageview.Degraded
				relay.Reason = fmt.Sprintf("%d events not published, the oldest for %s", n, seconds(lag))
			}
		}
		// On PostgreSQL the relay publishes only below the oldest open
		// transaction of the write database: say which one holds it.
		if w, err := s.RelayWaiting(ctx); err == nil && w.Waiting && w.Held > 0 {
			relay.State = stageview.Degraded
			relay.Reason = join(relay.Reason, w.Reason)
		}
	}

	projector := stageview.Component{Key: "projector", Name: "projector", State: stageview.Up}
	if pending, ok := backlog(ctx, s.cfg.NATS, s.consumers())[s.cfg.Namespace+messaging.ProjectorGroup]; ok {
		projector.Backlog = &pending
	}
	if read.State == stageview.Up && write.State == stageview.Up {
		if lag, ok := s.lagNow(ctx); ok {
			projector.Lag = &lag
			if lag >= lagWarn.Seconds() {
				projector.State = stageview.Degraded
				projector.Reason = "the read side is " + seconds(lag) + " behind: reads show older versions"
			}
		}
		if parked, err := projection.CountParked(ctx, s.cfg.Read); err == nil && parked > 0 {
			projector.State = stageview.Degraded
			projector.Reason = join(projector.Reason, strconv.Itoa(parked)+" events parked in the error log: their orders wait for a replay")
		}
	}
	return stageview.Readiness{Components: []stageview.Component{write, read, bus, relay, projector}}
}

// tableAnswers checks that table can be read: a database that answers pings
// but lost its tables (dropped, not migrated) cannot serve either.
func tableAnswers(ctx context.Context, db *bun.DB, table string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var one []int
	return db.NewSelect().TableExpr("?", bun.Ident(table)).ColumnExpr("1").Limit(1).Scan(ctx, &one)
}

// unpublished counts the change log's events after the relay's position and
// returns the time of the oldest (zero if none).
func (s *Stage) unpublished(ctx context.Context) (int, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	pos, err := changelog.LoadPosition(ctx, s.cfg.Write, s.relay.name)
	if err != nil {
		return 0, time.Time{}, err
	}
	entries, err := changelog.Read(ctx, s.cfg.Write, pos, 1)
	if err != nil || len(entries) == 0 {
		return 0, time.Time{}, err
	}
	var n int
	q := s.cfg.Write.NewRaw("SELECT COUNT(*) FROM change_log WHERE seq > ?", pos.Seq)
	if sqlstore.DialectName(s.cfg.Write) == sqlstore.Postgres {
		q = s.cfg.Write.NewRaw("SELECT COUNT(*) FROM change_log WHERE (tx_id, seq) > (CAST(? AS xid8), ?)", strconv.FormatInt(pos.TxID, 10), pos.Seq)
	}
	if err := q.Scan(ctx, &n); err != nil {
		return 0, time.Time{}, fmt.Errorf("count the events not published: %w", err)
	}
	return n, entries[0].Event.OccurredAt, nil
}

func seconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(100 * time.Millisecond).String()
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
