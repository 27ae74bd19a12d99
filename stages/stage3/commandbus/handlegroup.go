package commandbus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
)

// A group message carries the commands of several requests (group.go).
// The handler applies them in their order in one write transaction — one
// commit, one fsync on PostgreSQL, for the lot — and the message is acked
// only after that commit:
//
//   - each command is looked up in processed_commands in that
//     transaction, and recorded there in it, with its change (a copy
//     delivered again is skipped; the record and the change commit
//     together);
//   - each command's change is a savepoint of the transaction (the
//     repository joins it, command.JoinTx): a command that breaks the
//     order's rules rolls back to its savepoint and is recorded as
//     rejected, and the others go on;
//   - a failed commit rolls the whole group back, nothing of it applied,
//     and a crash before the ack brings the whole group again, all of it
//     applied and so skipped;
//   - a command that fails for another reason (the database refused it)
//     rolls the group back; the commands are then applied one at a time,
//     each in its own transaction, as if each had come alone, so that the
//     failing one is retried and set aside in the error log on its own
//     while the others are applied;
//   - while the write database is down, the group waits on the bus.

type groupTxKey struct{}

// GroupTx is the transaction that applies the group of commands ctx
// belongs to, if any. The write side's repository joins it
// (command.JoinTx), so that the group's changes commit together.
func GroupTx(ctx context.Context) (bun.Tx, bool) {
	tx, ok := ctx.Value(groupTxKey{}).(bun.Tx)
	return tx, ok
}

// AddCommandMiddleware adds middleware that every command of a group goes
// through, as the router's middleware does for a message of one command
// (tracing: a span per command, in the trace its sender started).
func (b *Bus) AddCommandMiddleware(m ...message.HandlerMiddleware) {
	b.each = append(b.each, m...)
}

// eachCommand is h in the commands' middleware, the first added outermost.
func (b *Bus) eachCommand(h message.HandlerFunc) message.HandlerFunc {
	for i := len(b.each) - 1; i >= 0; i-- {
		h = b.each[i](h)
	}
	return h
}

// handleGroup applies the commands of a group message, in their order.
func (b *Bus) handleGroup(ctx context.Context, msgs []*message.Message) error {
	err := b.applyGroup(ctx, msgs)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil, errors.Is(err, ErrWriteDown):
		return err
	case b.writeDown(ctx):
		return fmt.Errorf("%w: %w", ErrWriteDown, err)
	}
	b.log.WarnContext(ctx, "command bus: a group of commands was rolled back; applying them one at a time", "commands", len(msgs), "err", err)
	for _, m := range msgs {
		if err := b.applyAlone(ctx, m); err != nil {
			return err // the group comes again; what was applied is skipped
		}
	}
	return nil
}

// applyGroup applies msgs in one transaction; the counters and callbacks
// of what it applied and rejected follow its commit.
func (b *Bus) applyGroup(ctx context.Context, msgs []*message.Message) error {
	var after []func()
	err := b.write.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		gctx := context.WithValue(ctx, groupTxKey{}, tx)
		for _, m := range msgs {
			m.SetContext(gctx)
			h := b.eachCommand(func(m *message.Message) ([]*message.Message, error) {
				return nil, b.applyInGroup(m.Context(), tx, m, &after)
			})
			if _, err := h(m); err != nil {
				return err
			}
		}
		if b.beforeCommit != nil {
			return b.beforeCommit()
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range after {
		f()
	}
	if b.committed != nil {
		b.committed()
	}
	return nil
}

// applyInGroup applies one command of a group in tx, and says in after
// what to count once tx commits. An error rolls the group back.
func (b *Bus) applyInGroup(ctx context.Context, tx bun.Tx, m *message.Message, after *[]func()) error {
	var cmd busCommand
	if err := (strictMarshaler{commandMarshaler}).Unmarshal(m, &cmd); err != nil {
		return err
	}
	if cmd.Type == typeGroup {
		return fmt.Errorf("%w: a group inside a group", errUndecodable)
	}
	id, err := uuid.Parse(commandID(m))
	if err != nil {
		b.log.ErrorContext(ctx, "command bus: dropping a command whose ID is not a UUID", "message", m.UUID, "type", cmd.Type)
		return nil
	}
	if done, err := processed(ctx, tx, id); err != nil || done {
		return err // done: a redelivered copy, applied or rejected before
	}
	c := &inflight{id: id, typ: cmd.Type}
	ack, err := b.apply(withCommand(ctx, c), &cmd)
	switch code := order.ErrorCode(err); {
	case err == nil:
		if !c.recorded {
			// A repeated place-order changes nothing and appends no
			// events: record it on its own.
			row := processedRow{CommandID: id, OrderID: cmd.OrderID, Type: cmd.Type, Status: statusApplied, Version: ack.Version, ProcessedAt: b.now().UTC()}
			if err := insertProcessed(ctx, tx, &row); err != nil {
				return err
			}
		}
		*after = append(*after, func() { b.counted.With("applied").Inc() })
		return nil
	case code == order.EINTERNAL:
		return fmt.Errorf("command %s (%s of order %s): %w", id, cmd.Type, cmd.OrderID, err)
	default:
		if err := b.reject(ctx, tx, id, &cmd, err); err != nil {
			return err
		}
		*after = append(*after, func() { b.countRejected(cmd.OrderID) })
		return nil
	}
}

// applyAlone applies one command of a group in its own transaction, the
// way the router's middleware treats a command that came alone: retried
// while it fails and the write database answers, then set aside in the
// error log; one that does not decode is set aside at once. An error
// (the write database is down, or the error log refused the command)
// sends the group back to the bus.
func (b *Bus) applyAlone(ctx context.Context, m *message.Message) error {
	m.SetContext(ctx)
	h := b.eachCommand(func(m *message.Message) ([]*message.Message, error) {
		var cmd busCommand
		if err := (strictMarshaler{commandMarshaler}).Unmarshal(m, &cmd); err != nil {
			return nil, err
		}
		if cmd.Type == typeGroup {
			return nil, fmt.Errorf("%w: a group inside a group", errUndecodable)
		}
		return nil, b.handleOne(m.Context(), m, &cmd)
	})
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		m.Metadata.Set(metaAttempts, strconv.Itoa(attempt))
		_, err := h(m)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil, errors.Is(err, ErrWriteDown), b.errorLog == nil:
			return err
		case attempt <= b.retries && !errors.Is(err, errUndecodable):
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
			wait = min(2*wait, time.Second)
			continue
		}
		m.Metadata.Set(middleware.ReasonForPoisonedKey, err.Error())
		return poisonQueue{log: b.errorLog, bus: b}.Publish("", m)
	}
}
