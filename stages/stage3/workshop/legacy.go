package workshop

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/commandbus"
)

func (c *Controls) legacyControl() stageview.Control {
	on := c.legacy.Load()
	return stageview.Control{
		Key: LegacyEvents, Label: "Legacy events", Kind: stageview.ControlChoice,
		Value: flag(on), Default: Off, Choices: []string{Off, On},
		Effect: "New OrderPlaced events are written to the change log as schema version 1, which has no currency, as an " +
			"older version of the app wrote them (an order in another currency than " + order.DefaultCurrency + " is still written as schema 2).",
		Watch: "Place an order: its history on the order page says the event was stored as schema 1 and read through the " +
			"upcaster as schema 2 with currency " + order.DefaultCurrency + "; the live panel counts the events written as schema 1.",
		Marks: marks(on, stageview.Mark{Target: "write-db", State: stageview.MarkAltered, Text: "schema 1"}),
	}
}

// ChangeLog is the repository's change-log hook (command.WithChangeLog):
// it records a transaction's events.
type ChangeLog = func(ctx context.Context, tx bun.Tx, events []order.Event) error

// Legacy decorates the change-log hook: while legacy_events is on, an
// OrderPlaced event in the default currency is recorded in its schema 1
// shape, which has no currency.
func (c *Controls) Legacy(next ChangeLog) ChangeLog {
	return func(ctx context.Context, tx bun.Tx, events []order.Event) error {
		if !c.legacy.Load() {
			return next(ctx, tx, events)
		}
		out := make([]order.Event, len(events))
		n := 0
		for i, e := range events {
			out[i] = e
			if p, ok := e.Payload.(order.OrderPlaced); ok && p.Currency == order.DefaultCurrency {
				v1 := orderPlacedV1{Customer: p.Customer, Address: p.Address, Lines: p.Lines}
				out[i].Payload, out[i].SchemaVersion = v1, v1.SchemaVersion()
				n++
			}
		}
		if err := next(ctx, tx, out); err != nil {
			return err
		}
		c.legacyWritten.Add(int64(n))
		return nil
	}
}

// orderPlacedV1 is OrderPlaced as schema 1 wrote it: no currency.
type orderPlacedV1 struct {
	Customer string       `json:"customer"`
	Address  string       `json:"address"`
	Lines    []order.Line `json:"lines"`
}

func (orderPlacedV1) EventType() string  { return "OrderPlaced" }
func (orderPlacedV1) SchemaVersion() int { return 1 }

// Queries is stage 3's read side (the read model, with the command bus's
// rejections).
type Queries = commandbus.Queries

// Upcasts decorates the read side: an order's history says which of its
// events the change log of write holds in an older schema version, read
// through the upcaster.
func (c *Controls) Upcasts(q Queries, write *bun.DB) Queries {
	return upcasts{Queries: q, write: write}
}

type upcasts struct {
	Queries
	write *bun.DB
}

// upcastTimeout bounds the look-up in the change log: the page does not
// need it.
const upcastTimeout = 300 * time.Millisecond

func (u upcasts) OrderDetail(ctx context.Context, id order.ID) (order.Detail, error) {
	d, err := u.Queries.OrderDetail(ctx, id)
	if err != nil {
		return d, err
	}
	lctx, cancel := context.WithTimeout(ctx, upcastTimeout)
	defer cancel()
	events, err := changelog.ForOrder(lctx, u.write, id)
	if err != nil {
		return d, nil
	}
	for _, e := range events {
		if e.SchemaVersion >= e.Payload.SchemaVersion() {
			continue
		}
		for i := range d.History {
			if d.History[i].Version == e.OrderVersion {
				d.History = append([]order.HistoryEntry(nil), d.History...)
				d.History[i].Text += " · " + upcastText(e)
				break
			}
		}
	}
	return d, nil
}

// upcastText says how an event of an older schema was read.
func upcastText(e order.Event) string {
	s := fmt.Sprintf("stored as %s schema %d, read through the upcaster as schema %d", e.Type, e.SchemaVersion, e.Payload.SchemaVersion())
	if p, ok := e.Payload.(order.OrderPlaced); ok {
		s += " (currency " + strconv.Quote(p.Currency) + " filled in)"
	}
	return s
}
