package workshop

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staircase/staircase/internal/stageview"
)

// NakDelay is how long the bus waits before it delivers again an event
// that reorder_deliveries held back: the events after it come first.
const NakDelay = 250 * time.Millisecond

// swapLag is how long a held event waits after the one handed out in its
// place before it follows, unless that one is answered sooner: long enough
// for the projector to start on the later event, well within the error
// log's retries of an event that came before its turn.
const swapLag = 100 * time.Millisecond

func (c *Controls) duplicatesControl() stageview.Control {
	pct := c.dupPct.Load()
	return stageview.Control{
		Key: Duplicates, Label: "Duplicate deliveries", Kind: stageview.ControlNumber,
		Value: strconv.FormatInt(pct, 10), Default: "0", Min: 0, Max: 100, Unit: "%",
		Effect: "This share of the events reaches the projector twice: once more after it was applied, as the bus does after a lost ack.",
		Watch: "The live panel's Duplicates (redeliveries ignored) rises with Sent twice, while Projected and the read model stay " +
			"as they were: the projector ignores an event at or below the version it has.",
		Marks: marks(pct > 0, stageview.Mark{Target: "event-bus", State: stageview.MarkAltered, Text: "×2 " + strconv.FormatInt(pct, 10) + "%"}),
	}
}

func (c *Controls) reorderControl() stageview.Control {
	on := c.reorder.Load()
	return stageview.Control{
		Key: Reorder, Label: "Reorder deliveries", Kind: stageview.ControlChoice,
		Value: flag(on), Default: Off, Choices: []string{Off, On},
		Effect: "Neighbouring events reach the projector swapped: the first is held back until the next one is on its way. " +
			"The bus delivers the held one again later; the copy the projector already applied is acknowledged then.",
		Watch: "Change one order twice quickly (place it, then ship it): the later event arrives before its turn and waits " +
			"(Gap retries rises) until the earlier one is applied. Swapped counts the swaps; the read model ends up the same.",
		Marks: marks(on, stageview.Mark{Target: "event-bus", State: stageview.MarkAltered, Text: "swapped"}),
	}
}

// Deliveries decorates the projector's subscriber with the
// duplicate_deliveries_pct and reorder_deliveries controls. The subscriber
// must hand out one message at a time and deliver a nacked message again
// after NakDelay (messaging.Subscriber, SubscriberConfig.NakDelay).
//
// A duplicate is a copy of a message sent after the projector acknowledged
// the original, as the bus does when an ack is lost. A swap holds a copy of
// a message back and nacks the original, so that the bus goes on with the
// next one; the next one is handed out, then the copy soon after, and the
// projector runs both side by side, the earlier event after the later. The
// original comes back from the bus after NakDelay: acknowledged here if the
// projector applied the copy, handed out otherwise. So nothing is lost when
// the process stops while it holds a copy: the bus still has the original.
func (c *Controls) Deliveries(sub message.Subscriber) message.Subscriber {
	return &deliveries{Subscriber: sub, c: c}
}

type deliveries struct {
	message.Subscriber
	c *Controls
}

func (d *deliveries) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	up, err := d.Subscriber.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	l := &deliveryLoop{c: d.c, ctx: ctx, out: out, copies: map[string]*sentCopy{}}
	go func() {
		defer close(out)
		l.run(up)
	}()
	return out, nil
}

// deliveryLoop is one subscription's decorator.
type deliveryLoop struct {
	c   *Controls
	ctx context.Context
	out chan<- *message.Message
	// held is a copy held back while the bus brings the next message.
	held *message.Message
	mu   sync.Mutex
	// copies are the copies handed out in place of originals the bus
	// will deliver again, by message UUID.
	copies map[string]*sentCopy
}

// sentCopy is a copy handed out; done is closed once the projector
// answered it, applied says whether it acked it.
type sentCopy struct {
	done    chan struct{}
	applied bool
	at      time.Time
}

// copyKept is how long a copy's answer is kept for its original: the
// original comes back after NakDelay, unless another instance took it.
const copyKept = time.Minute

func (l *deliveryLoop) run(up <-chan *message.Message) {
	for {
		var msg *message.Message
		select {
		case m, ok := <-up:
			if !ok {
				return
			}
			msg = m
		case <-l.ctx.Done():
			return
		}
		handled, back := l.redelivered(msg)
		if handled {
			continue
		}
		if l.held == nil && !back && l.c.reorder.Load() {
			// Hold a copy; the bus delivers the original again after
			// NakDelay, and the next message now.
			l.held = copyOf(l.ctx, msg)
			msg.Nack()
			continue
		}
		dup := copyOf(l.ctx, msg)
		if !l.send(msg) {
			return
		}
		if held := l.held; held != nil {
			l.held = nil
			// The later event first: the held one follows once the later
			// one is answered, or has had swapLag to start.
			t := time.NewTimer(swapLag)
			select {
			case <-t.C:
			case <-msg.Acked():
			case <-msg.Nacked():
			case <-l.ctx.Done():
				t.Stop()
				return
			}
			t.Stop()
			if !l.sendCopy(held) {
				return
			}
			l.c.swapped.Add(1)
		}
		if !l.answered(msg) {
			return
		}
		if pct := l.c.dupPct.Load(); pct > 0 && rand.Int64N(100) < pct {
			if !l.send(dup) {
				return
			}
			l.c.duplicated.Add(1)
			if !l.answered(dup) {
				return
			}
		}
	}
}

// redelivered handles a message the bus delivers again after a swap: the
// held copy is handed out in its place if nothing came between (no swap
// then), and a message whose copy the projector applied is acknowledged
// here. It reports whether it dealt with msg, and whether msg is a held
// message back (not to be held again).
func (l *deliveryLoop) redelivered(msg *message.Message) (handled, back bool) {
	if l.held != nil && l.held.UUID == msg.UUID {
		// Nothing else was on the bus: hand out the original, not swapped.
		l.held = nil
		return false, true
	}
	l.mu.Lock()
	sc, ok := l.copies[msg.UUID]
	if ok {
		delete(l.copies, msg.UUID)
	}
	l.mu.Unlock()
	if !ok {
		return false, false
	}
	select {
	case <-sc.done:
	case <-l.ctx.Done():
		return true, true // the bus delivers it again
	}
	if !sc.applied {
		return false, true
	}
	msg.Ack()
	return true, true
}

func (l *deliveryLoop) send(msg *message.Message) bool {
	select {
	case l.out <- msg:
		return true
	case <-l.ctx.Done():
		return false
	}
}

// sendCopy hands out a held copy without waiting for its answer, and
// remembers the answer for when the bus delivers the original again.
func (l *deliveryLoop) sendCopy(cp *message.Message) bool {
	sc := &sentCopy{done: make(chan struct{}), at: time.Now()}
	l.mu.Lock()
	for id, old := range l.copies {
		if time.Since(old.at) > copyKept {
			delete(l.copies, id)
		}
	}
	l.copies[cp.UUID] = sc
	l.mu.Unlock()
	if !l.send(cp) {
		return false
	}
	go func() {
		select {
		case <-cp.Acked():
			sc.applied = true
		case <-cp.Nacked():
		case <-l.ctx.Done():
		}
		close(sc.done)
	}()
	return true
}

// answered waits until the projector acked or nacked msg.
func (l *deliveryLoop) answered(msg *message.Message) bool {
	select {
	case <-msg.Acked():
		return true
	case <-msg.Nacked():
		return true
	case <-l.ctx.Done():
		return false
	}
}

// copyOf is a copy of msg as it was received: same UUID, payload and
// metadata, its answer going nowhere.
func copyOf(ctx context.Context, msg *message.Message) *message.Message {
	cp := message.NewMessage(msg.UUID, msg.Payload)
	for k, v := range msg.Metadata {
		cp.Metadata.Set(k, v)
	}
	cp.SetContext(ctx)
	return cp
}
