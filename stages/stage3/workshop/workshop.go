// Package workshop holds stage 3's workshop controls (staircase serve
// --workshop): switches that make the stage's behaviour visible at human
// speed. Each plugs in at a seam of the core — a middleware of the
// projector's router, a hook the relay consults each round, a decorator of
// the write side — and is off by
// default; nothing is saved, so a restart turns every control off.
//
// The controls: projector_delay_ms, projector and relay (this file),
// write_db (writedb.go), command_bus (commandbus.go),
// duplicate_deliveries_pct and reorder_deliveries (deliveries.go),
// poison_order (poison.go) and legacy_events (legacy.go).
package workshop

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/stageview"
)

// The controls' keys.
const (
	ProjectorDelay = "projector_delay_ms"
	Projector      = "projector"
	Relay          = "relay"
	WriteDB        = "write_db"
	CommandBus     = "command_bus"
	Duplicates     = "duplicate_deliveries_pct"
	Reorder        = "reorder_deliveries"
	PoisonOrder    = "poison_order"
	LegacyEvents   = "legacy_events"
)

// The values of the switches.
const (
	Running = "running"
	Paused  = "paused"
	Sync    = "sync"
	Async   = "async"
	On      = "true"
	Off     = "false"
)

// MaxDelay bounds the projector delay, in milliseconds.
const MaxDelay = 10000

// Controls are the workshop controls of one stage 3. The zero value is
// not usable: see New.
type Controls struct {
	// ackWait is the bus's AckWait: a message held longer is reported in
	// progress well within it, so that the bus does not deliver it again.
	ackWait time.Duration

	delay       atomic.Int64 // ms
	relayPaused atomic.Bool
	writeDown   atomic.Bool

	// startAsync is the command bus's mode at start (--command-bus);
	// async the mode now.
	startAsync bool
	async      atomic.Bool
	// dupPct is the share of events delivered twice, in percent;
	// reorder swaps neighbouring deliveries.
	dupPct  atomic.Int64
	reorder atomic.Bool
	// poison is the order whose events fail in the projector; nil: none.
	poison atomic.Pointer[order.ID]
	legacy atomic.Bool

	// What the controls did, for the live panel (Figures).
	duplicated, swapped, poisonFails, legacyWritten atomic.Int64

	mu sync.Mutex
	// resumed is nil while the projector runs; while it is paused, a
	// channel closed on resume.
	resumed chan struct{}
}

// New returns the controls, all off, for a bus with the given AckWait;
// async is the command bus's mode at start, which command_bus starts from.
func New(ackWait time.Duration, async bool) *Controls {
	c := &Controls{ackWait: ackWait, startAsync: async}
	c.async.Store(async)
	return c
}

// List returns the controls with their current values.
func (c *Controls) List() []stageview.Control {
	projector := Running
	if c.projectorPaused() != nil {
		projector = Paused
	}
	relay := Running
	if c.relayPaused.Load() {
		relay = Paused
	}
	write := Up
	if c.writeDown.Load() {
		write = Down
	}
	return []stageview.Control{
		{
			Key: ProjectorDelay, Label: "Projector delay", Kind: stageview.ControlNumber,
			Value: strconv.FormatInt(c.delay.Load(), 10), Default: "0", Min: 0, Max: MaxDelay, Unit: "ms",
			Effect: "Every event waits this long before the projector applies it.",
			Watch:  "New orders show as pending and pages as syncing; the projection lag grows, then shrinks when set back to 0.",
			Marks:  marks(c.delay.Load() > 0, stageview.Mark{Target: "projector", State: stageview.MarkSlow, Text: "+" + strconv.FormatInt(c.delay.Load(), 10) + " ms"}),
		},
		{
			Key: Projector, Label: "Projector", Kind: stageview.ControlChoice,
			Value: projector, Default: Running, Choices: []string{Running, Paused},
			Effect: "Paused, the projector applies nothing: events wait on the bus, none is lost or parked.",
			Watch:  "The bus backlog grows and the read side stands still while commands still succeed; on resume the backlog drains.",
			Marks:  marks(projector == Paused, stageview.Mark{Target: "projector", State: stageview.MarkPaused, Text: "paused"}),
		},
		{
			Key: Relay, Label: "Relay", Kind: stageview.ControlChoice,
			Value: relay, Default: Running, Choices: []string{Running, Paused},
			Effect: "Paused, the relay publishes nothing: events stay in the change log of the write database.",
			Watch:  "The change log grows and the bus stays quiet; the read side falls behind. On resume the relay catches up in commit order.",
			Marks:  marks(relay == Paused, stageview.Mark{Target: "outbox-relay", State: stageview.MarkPaused, Text: "paused"}),
		},
		{
			Key: WriteDB, Label: "Write database", Kind: stageview.ControlChoice,
			Value: write, Default: Up, Choices: []string{Up, Down},
			Effect: "Down, the app's write path refuses as if the database of record were gone; reads go on from the read database.",
			Watch:  "Commands fail with 503 in sync mode; in async mode they are accepted (202) and wait on the command bus, applied once it is up again.",
			Marks:  marks(c.writeDown.Load(), stageview.Mark{Target: "write-db", State: stageview.MarkFault, Text: "down"}),
		},
		c.commandBusControl(),
		c.duplicatesControl(),
		c.reorderControl(),
		c.poisonControl(),
		c.legacyControl(),
	}
}

// marks returns ms when on is true, else nothing.
func marks(on bool, ms ...stageview.Mark) []stageview.Mark {
	if !on {
		return nil
	}
	return ms
}

func flag(on bool) string {
	if on {
		return On
	}
	return Off
}

// boolean reads a switch's value.
func boolean(value string) (bool, error) {
	switch value {
	case On:
		return true, nil
	case Off:
		return false, nil
	}
	return false, invalid("must be true or false")
}

// Set sets control key to value: ENOTFOUND for an unknown control,
// EINVALID for a value it does not take.
func (c *Controls) Set(key, value string) error {
	switch key {
	case ProjectorDelay:
		ms, err := strconv.Atoi(value)
		if err != nil || ms < 0 || ms > MaxDelay {
			return invalid("must be a whole number of milliseconds from 0 to " + strconv.Itoa(MaxDelay))
		}
		c.delay.Store(int64(ms))
	case Projector:
		paused, err := running(value)
		if err != nil {
			return err
		}
		c.pauseProjector(paused)
	case Relay:
		paused, err := running(value)
		if err != nil {
			return err
		}
		c.relayPaused.Store(paused)
	case WriteDB:
		switch value {
		case Up, Down:
			c.writeDown.Store(value == Down)
		default:
			return invalid("must be " + strconv.Quote(Up) + " or " + strconv.Quote(Down))
		}
	case CommandBus:
		switch value {
		case Sync, Async:
			c.async.Store(value == Async)
		default:
			return invalid("must be " + strconv.Quote(Sync) + " or " + strconv.Quote(Async))
		}
	case Duplicates:
		pct, err := strconv.Atoi(value)
		if err != nil || pct < 0 || pct > 100 {
			return invalid("must be a whole percentage from 0 to 100")
		}
		c.dupPct.Store(int64(pct))
	case Reorder:
		on, err := boolean(value)
		if err != nil {
			return err
		}
		c.reorder.Store(on)
	case PoisonOrder:
		return c.setPoison(value)
	case LegacyEvents:
		on, err := boolean(value)
		if err != nil {
			return err
		}
		c.legacy.Store(on)
	default:
		return order.Errorf(order.ENOTFOUND, "there is no workshop control %q", key)
	}
	return nil
}

func running(value string) (paused bool, err error) {
	switch value {
	case Running:
		return false, nil
	case Paused:
		return true, nil
	}
	return false, invalid("must be " + strconv.Quote(Running) + " or " + strconv.Quote(Paused))
}

func invalid(msg string) error {
	return &order.Error{Code: order.EINVALID, Message: "the value is not valid", Fields: []order.FieldError{{Field: "value", Message: msg}}}
}

func (c *Controls) pauseProjector(paused bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case paused && c.resumed == nil:
		c.resumed = make(chan struct{})
	case !paused && c.resumed != nil:
		close(c.resumed)
		c.resumed = nil
	}
}

// projectorPaused returns the channel closed on resume, or nil while the
// projector runs.
func (c *Controls) projectorPaused() chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resumed
}

// RelayPaused is the relay's hook: it publishes nothing while it is true.
func (c *Controls) RelayPaused() bool { return c.relayPaused.Load() }

// Middleware is the projector router's middleware: it holds each event
// while the projector is paused, then for the delay, and only then lets
// it through. A held message is reported in progress to the bus, so that
// it is neither delivered again nor nacked: nothing reaches the error log.
func (c *Controls) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		ctx := msg.Context()
		for {
			resumed := c.projectorPaused()
			if resumed == nil {
				break
			}
			if err := c.hold(ctx, resumed, nil); err != nil {
				return nil, err
			}
		}
		if d := time.Duration(c.delay.Load()) * time.Millisecond; d > 0 {
			t := time.NewTimer(d)
			err := c.hold(ctx, nil, t.C)
			t.Stop()
			if err != nil {
				return nil, err
			}
		}
		return h(msg)
	}
}

// hold waits for done or expired, telling the bus meanwhile that the
// message is in progress. It fails only when ctx ends (the router stops:
// the message comes back after AckWait).
func (c *Controls) hold(ctx context.Context, done <-chan struct{}, expired <-chan time.Time) error {
	every := max(c.ackWait/3, 10*time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-expired:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			_ = messaging.InProgress(ctx)
		}
	}
}

// The keys of the workshop's live figures.
const (
	FigureSentTwice     = "workshop-sent-twice"
	FigureSwapped       = "workshop-swapped"
	FigurePoisoned      = "workshop-poisoned"
	FigureLegacyWritten = "workshop-legacy-written"
)

// Figures are what the controls did, for the live panel: a group beside
// the stage's own, where the projector's answers (Duplicates, Gap
// retries, Parked) show the effect.
func (c *Controls) Figures() stageview.Group {
	count := func(key, label string, v int64, detail string) stageview.Figure {
		return stageview.Figure{Key: key, Label: label, Kind: stageview.Total, Value: float64(v), Detail: detail}
	}
	return stageview.Group{Title: "Workshop", Figures: []stageview.Figure{
		count(FigureSentTwice, "Sent twice", c.duplicated.Load(), "duplicate deliveries made"),
		count(FigureSwapped, "Swapped", c.swapped.Load(), "events delivered after the next one"),
		count(FigurePoisoned, "Poisoned", c.poisonFails.Load(), "attempts failed on purpose"),
		count(FigureLegacyWritten, "Schema 1", c.legacyWritten.Load(), "OrderPlaced written as schema 1"),
	}}
}
