package workshop

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/stages/stage3/changelog"
)

// ErrPoisoned is why an event of the poisoned order fails.
var ErrPoisoned = errors.New("poisoned by the workshop control poison_order")

func (c *Controls) poisonControl() stageview.Control {
	value := ""
	if id := c.poison.Load(); id != nil {
		value = id.String()
	}
	return stageview.Control{
		Key: PoisonOrder, Label: "Poison an order", Kind: stageview.ControlText,
		Value: value, Default: "", Placeholder: "an order ID",
		Effect: "The projector fails every event of this order: the next one is retried, then parked in the error log, " +
			"and the order's later events are held behind it. Replaying fails while the order is poisoned. Empty: none.",
		Watch: "Parked and Held rise on the live panel while other orders are still projected. Clear the control (the fix), " +
			"then replay the order from the error log: its events are applied in order.",
		Marks: marks(value != "", stageview.Mark{Target: "projector", State: stageview.MarkFault, Text: "poisoned"}),
	}
}

// setPoison sets the poisoned order: a UUID, or empty for none.
func (c *Controls) setPoison(value string) error {
	value = strings.TrimSpace(value)
	if value == "" {
		c.poison.Store(nil)
		return nil
	}
	id, err := uuid.Parse(value)
	if err != nil || id == uuid.Nil {
		return invalid("must be an order ID (a UUID such as 0190a0e0-0000-7000-8000-000000000001), or empty for none")
	}
	c.poison.Store(&id)
	return nil
}

// poisoned tells whether events of the order id fail now.
func (c *Controls) poisoned(id order.ID) bool {
	p := c.poison.Load()
	return p != nil && *p == id
}

// Poison decorates the projector's handler, inside the error log's retries:
// an event of the poisoned order fails, so that it is retried, then parked.
func (c *Controls) Poison(next message.NoPublishHandlerFunc) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		if c.poison.Load() != nil && c.poisoned(orderOf(msg)) {
			c.poisonFails.Add(1)
			return fmt.Errorf("order %s: %w", orderOf(msg), ErrPoisoned)
		}
		return next(msg)
	}
}

// Check is the error log's check before a replay applies an event: an
// event of the poisoned order still fails.
func (c *Controls) Check(e order.Event) error {
	if c.poisoned(e.OrderID) {
		return fmt.Errorf("order %s: %w (clear the control to replay it)", e.OrderID, ErrPoisoned)
	}
	return nil
}

// orderOf is the order an event message is about: its metadata, or its
// envelope.
func orderOf(msg *message.Message) order.ID {
	if id, err := uuid.Parse(msg.Metadata.Get(changelog.MetaOrderID)); err == nil {
		return id
	}
	if e, err := changelog.Unmarshal(msg.Payload); err == nil {
		return e.OrderID
	}
	return uuid.Nil
}
