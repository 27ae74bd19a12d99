package commandbus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
)

// setAsideFailures adds to the bus's router what keeps one bad command from
// holding back every command behind it (one is in flight at a time):
// Watermill's Retry, for a command that fails while the write database
// answers, and its PoisonQueue, which hands a command that does not decode,
// or still fails after its retries, to the error log and acks it. A
// command that fails because the write database is down is neither retried
// here nor parked: it is nacked and waits on the bus, as before.
func (b *Bus) setAsideFailures(log ErrorLog, retries int, logger watermill.LoggerAdapter) error {
	poison, err := middleware.PoisonQueueWithFilter(poisonQueue{log: log, bus: b}, "error-log", func(err error) bool {
		return !errors.Is(err, context.Canceled) && !errors.Is(err, ErrWriteDown)
	})
	if err != nil {
		return err
	}
	retry := middleware.Retry{
		MaxRetries:      retries,
		InitialInterval: 50 * time.Millisecond,
		MaxInterval:     time.Second,
		Multiplier:      2,
		Logger:          logger,
		ShouldRetry: func(p middleware.RetryParams) bool {
			return !errors.Is(p.Err, errUndecodable) && !errors.Is(p.Err, ErrWriteDown) && !errors.Is(p.Err, context.Canceled)
		},
	}
	b.router.AddMiddleware(middleware.Recoverer, poison, retry.Middleware, countAttempts)
	return nil
}

// countAttempts records on the message how often it was tried: the Retry
// middleware hands the same message to each attempt.
func countAttempts(h message.HandlerFunc) message.HandlerFunc {
	return func(m *message.Message) ([]*message.Message, error) {
		n, _ := strconv.Atoi(m.Metadata.Get(metaAttempts))
		m.Metadata.Set(metaAttempts, strconv.Itoa(n+1))
		return h(m)
	}
}

// writeDown tells whether the write database fails to take a write
// transaction now: a ping is not enough, since a SQLite file locked by
// another process answers pings but refuses writers (its write
// transactions are immediate, so beginning one takes the write lock).
func (b *Bus) writeDown(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	err := b.write.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		_, err := tx.ExecContext(ctx, "SELECT 1")
		return err
	})
	return err != nil
}

// poisonQueue is the PoisonQueue's publisher: the error log.
type poisonQueue struct {
	log ErrorLog
	bus *Bus
}

func (q poisonQueue) Publish(_ string, msgs ...*message.Message) error {
	for _, m := range msgs {
		p := parkedOf(m)
		if err := q.log.ParkCommand(m.Context(), p); err != nil {
			return err // nacked: it comes again
		}
		q.bus.counted.With("parked").Inc()
		q.bus.log.Error("command bus: command set aside in the error log; the commands behind it go on",
			"command", p.CommandID, "type", p.Type, "order", p.OrderID, "attempts", p.Attempts, "err", p.Err)
	}
	return nil
}

func (poisonQueue) Close() error { return nil }

// parkedOf says what a command message is from its metadata.
func parkedOf(m *message.Message) Parked {
	p := Parked{Type: m.Metadata.Get(metaCommandType), Envelope: m.Payload, Err: m.Metadata.Get(middleware.ReasonForPoisonedKey)}
	var err error
	if p.CommandID, err = uuid.Parse(commandID(m)); err != nil || p.CommandID == uuid.Nil {
		// Not one of ours: the same message parked twice lands on the
		// same entry.
		p.CommandID = uuid.NewSHA1(uuid.NameSpaceOID, append([]byte(m.UUID+"\x00"), m.Payload...))
	}
	if id, err := uuid.Parse(m.Metadata.Get(metaOrderID)); err == nil {
		p.OrderID = id
	}
	if p.Type == "" {
		p.Type = "unknown"
	}
	if p.Err == "" {
		p.Err = "failed all its retries"
	}
	p.Attempts, _ = strconv.Atoi(m.Metadata.Get(metaAttempts))
	p.Attempts = max(p.Attempts, 1)
	return p
}

// commandID is the ID a command message was accepted with: its UUID, or
// for a command re-queued from the error log, the ID it carries.
func commandID(m *message.Message) string {
	if id := m.Metadata.Get(metaCommandID); id != "" {
		return id
	}
	return m.UUID
}

// Requeue sends a command that the error log kept (Parked.Envelope) to the
// command bus again, under its command ID, for the command handler to take
// as if it had just been accepted: applied once (a copy applied meanwhile
// is recognised by its ID), or rejected, or parked again.
func (b *Bus) Requeue(ctx context.Context, commandID uuid.UUID, orderID order.ID, typ string, envelope []byte) error {
	return Requeue(ctx, b.pub, b.topic, commandID, orderID, typ, envelope)
}

// Requeue is Bus.Requeue for a tool without a bus (the CLI): it publishes
// with pub to the commands topic topic.
func Requeue(ctx context.Context, pub message.Publisher, topic string, commandID uuid.UUID, orderID order.ID, typ string, envelope []byte) error {
	// A message UUID of its own: the bus drops a message whose UUID it has
	// seen in its deduplication window.
	m := message.NewMessage(order.NewID().String(), envelope)
	m.SetContext(ctx)
	m.Metadata.Set("name", commandMarshaler.Name(&busCommand{}))
	m.Metadata.Set(metaCommandID, commandID.String())
	m.Metadata.Set(metaCommandType, typ)
	if orderID != (order.ID{}) {
		m.Metadata.Set(metaOrderID, orderID.String())
	}
	if err := pub.Publish(topic, m); err != nil {
		return fmt.Errorf("re-queue command %s: %w", commandID, err)
	}
	return nil
}
