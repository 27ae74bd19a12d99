package commandbus

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/metrics"
	"github.com/staircase/staircase/internal/order"
)

// commandNakDelay is how long a command whose write failed (the write
// database is down) waits on the bus before it is tried again.
const commandNakDelay = 500 * time.Millisecond

// busCommand is what travels on the command bus: one message type for all
// six commands, because they share one topic and one durable consumer
// (with one message in flight), so that they apply in the order they were
// accepted, across instances. Watermill's command processor gives each
// handler its own subscription and skips messages of other types; one
// handler per command type on a shared consumer would drop the others.
// A message of type CommandGroup carries, in Group, the commands of
// several requests stored together (group.go).
type busCommand struct {
	Type        string                  `json:"type"`
	OrderID     order.ID                `json:"order_id"`
	Place       *order.PlaceOrder       `json:"place,omitempty"`
	ChangeLines *order.ChangeOrderLines `json:"change_lines,omitempty"`
	Ship        *order.ShipOrder        `json:"ship,omitempty"`
	Deliver     *order.DeliverOrder     `json:"deliver,omitempty"`
	Cancel      *order.CancelOrder      `json:"cancel,omitempty"`
	Delete      *order.DeleteOrder      `json:"delete,omitempty"`
	Group       []groupedCommand        `json:"group,omitempty"`
}

// The command types, as the bus, processed_commands and the command status
// name them.
const (
	typePlace       = "PlaceOrder"
	typeChangeLines = "ChangeOrderLines"
	typeShip        = "ShipOrder"
	typeDeliver     = "DeliverOrder"
	typeCancel      = "CancelOrder"
	typeDelete      = "DeleteOrder"
	typeGroup       = "CommandGroup"
)

// Metadata keys of a command message, for tools that look at the bus: its
// type, and the order it is for (named as on event messages); and for a
// command re-queued from the error log, its command ID (the message has a
// UUID of its own, or the bus would drop it as a copy of the first).
const (
	metaCommandType = "command_type"
	metaOrderID     = "order_id"
	metaCommandID   = "command_id"
	metaAttempts    = "command_attempts"
)

// Handlers apply commands to the write model (stage 3's command.Handlers):
// the same write path as without a bus, so that the events still reach the
// change log in the change's transaction.
type Handlers interface {
	PlaceOrder(ctx context.Context, cmd order.PlaceOrder) (order.Ack, error)
	ChangeOrderLines(ctx context.Context, cmd order.ChangeOrderLines) (order.Ack, error)
	ShipOrder(ctx context.Context, cmd order.ShipOrder) (order.Ack, error)
	DeliverOrder(ctx context.Context, cmd order.DeliverOrder) (order.Ack, error)
	CancelOrder(ctx context.Context, cmd order.CancelOrder) (order.Ack, error)
	DeleteOrder(ctx context.Context, cmd order.DeleteOrder) (order.Ack, error)
}

// Config is what the command bus runs on.
type Config struct {
	// Write is the database of record, where processed commands are
	// recorded. Required.
	Write *bun.DB
	// NATS is a connection to a NATS server with JetStream. Required.
	NATS *nats.Conn
	// Topic is the commands topic; Group the command handler's durable
	// consumer group.
	Topic, Group string
	// AckWait is how long the bus waits for an instance to acknowledge a
	// command before it gives it to another.
	AckWait time.Duration
	Logger  *slog.Logger
	// Metrics gets the count of commands queued, applied and rejected;
	// nil counts nothing.
	Metrics *metrics.Registry
	// ErrorLog takes the commands the bus gives up on: one that does not
	// decode, or that failed Retries times while the write database
	// answered. Nil: such a command is retried forever, holding back the
	// ones behind it.
	ErrorLog ErrorLog
	// Retries is how often a failing command is tried again before it goes
	// to the error log (default 5). A command is retried for as long as
	// the write database is down, without counting: it waits on the bus.
	Retries int
	// Rejected, if set, is told the order of every queued command that was
	// rejected, once the rejection is recorded (the live pages end their
	// wait on it).
	Rejected func(order.ID)
	// StreamFor is the commands topic's stream (messaging's default if
	// nil), e.g. with replicas in a NATS cluster.
	StreamFor func(topic string) messaging.StreamConfig
	// Decorate, if set, wraps what the bus sends commands through (say,
	// tracing, with a span per command queued). It wraps the grouping of
	// concurrent commands (group.go), so that it sees each command, and
	// what it adds to a command's metadata travels inside its group.
	Decorate func(message.Publisher) message.Publisher
	// Committed, if set, is called after each transaction that applied a
	// group of commands has committed (stage 3 wakes its relay with it:
	// the repository's AfterCommit is not called for the changes of a
	// group, which commit later, together).
	Committed func()
}

// ErrorLog is where the bus sets aside a command it gives up on (stage 3's
// error log), so that the commands behind it go on. ParkCommand must be
// idempotent: a redelivered command is parked on the same entry.
type ErrorLog interface {
	ParkCommand(ctx context.Context, c Parked) error
}

// Parked is a command the bus gave up on.
type Parked struct {
	// CommandID is the ID the command was accepted with.
	CommandID uuid.UUID
	// OrderID and Type are what the message's metadata say (zero and
	// "unknown" if it says nothing).
	OrderID order.ID
	Type    string
	// Envelope is the message's payload, for Requeue.
	Envelope []byte
	Err      string
	Attempts int
}

// Bus sends commands to the bus (Watermill's cqrs.CommandBus) and applies
// the commands it receives (a cqrs.CommandProcessor on its own router)
// through the write model's handlers.
type Bus struct {
	write    *bun.DB
	handlers Handlers
	bus      *cqrs.CommandBus
	sub      *messaging.Subscriber
	router   *message.Router
	log      *slog.Logger
	now      func() time.Time
	// counted counts the commands queued, applied and rejected, for
	// /metrics and the architecture page (nil counts nothing).
	counted *metrics.CounterVec
	// pub and topic are where Requeue sends a command again.
	pub   message.Publisher
	topic string
	// group stores the commands of concurrent requests together.
	group *groupPublisher
	// rejected is Config.Rejected; committed Config.Committed.
	rejected  func(order.ID)
	committed func()
	// each is the middleware every command of a group goes through, as a
	// command alone goes through the router's (AddCommandMiddleware).
	each []message.HandlerMiddleware
	// errorLog and retries are Config.ErrorLog and Config.Retries, for
	// the commands of a group applied one at a time.
	errorLog ErrorLog
	retries  int
	// beforeCommit, if set, runs just before a group's transaction
	// commits; an error rolls the group back (tests: a failed commit).
	beforeCommit func() error
}

// commandMarshaler names every bus command the same, with JSON payloads.
var commandMarshaler = cqrs.JSONMarshaler{GenerateName: cqrs.StructName}

// errUndecodable marks a command message that cannot be read: no retry
// will change that, so it goes to the error log at once.
var errUndecodable = errors.New("the command message cannot be decoded")

// ErrWriteDown marks a failure while the write database does not answer:
// the command waits on the bus, uncounted, until it does. The bus finds
// it out by asking the database after a failure; Handlers that know the
// write database is down fail with an error wrapping ErrWriteDown.
var ErrWriteDown = errors.New("the write database does not answer")

// strictMarshaler is commandMarshaler for the processor: Watermill's
// processor acks and drops, unseen, a message named for another command
// type; this one hands every message to the handler and fails to decode
// one that is not a bus command, so that it reaches the error log.
type strictMarshaler struct{ cqrs.JSONMarshaler }

func (m strictMarshaler) NameFromMessage(*message.Message) string { return m.Name(&busCommand{}) }

func (m strictMarshaler) Unmarshal(msg *message.Message, v any) error {
	if got, want := m.JSONMarshaler.NameFromMessage(msg), m.Name(v); got != want {
		return fmt.Errorf("%w: a message named %q, not %q", errUndecodable, got, want)
	}
	if err := m.JSONMarshaler.Unmarshal(msg, v); err != nil {
		return fmt.Errorf("%w: %v", errUndecodable, err)
	}
	return nil
}

// New returns the command bus: commands sent through pub to cfg.Topic, and
// applied by handlers when taken off it (Router runs that).
func New(cfg Config, handlers Handlers, pub message.Publisher, logger watermill.LoggerAdapter) (*Bus, error) {
	topic := cfg.Topic
	if cfg.Retries == 0 {
		cfg.Retries = 5
	}
	decorate := cfg.Decorate
	if decorate == nil {
		decorate = func(p message.Publisher) message.Publisher { return p }
	}
	b := &Bus{write: cfg.Write, handlers: handlers, log: cfg.Logger.With("component", "command-handler"), now: time.Now,
		pub: decorate(pub), topic: topic, rejected: cfg.Rejected, committed: cfg.Committed, errorLog: cfg.ErrorLog, retries: cfg.Retries}
	b.counted = cfg.Metrics.CounterVec(metrics.BusCommands,
		"Commands this process queued on the command bus (accepted), and applied or rejected taking them off it.", "outcome")
	var err error
	b.group = newGroupPublisher(pub)
	b.bus, err = cqrs.NewCommandBusWithConfig(decorate(b.group), cqrs.CommandBusConfig{
		GeneratePublishTopic: func(cqrs.CommandBusGeneratePublishTopicParams) (string, error) { return topic, nil },
		Marshaler:            commandMarshaler,
		Logger:               logger,
	})
	if err != nil {
		return nil, err
	}
	b.sub, err = messaging.NewSubscriber(cfg.NATS, messaging.SubscriberConfig{
		ConsumerGroup: cfg.Group,
		// One command in flight across all instances: commands apply
		// strictly in the order they were accepted, and a failing one
		// holds the others back instead of being overtaken.
		Consumer:  messaging.ConsumerConfig{MaxAckPending: 1, AckWait: cfg.AckWait, Description: "stage 3 command handler"},
		NakDelay:  commandNakDelay,
		PullBatch: 1,
		StreamFor: cfg.StreamFor,
		Logger:    logger,
	})
	if err != nil {
		return nil, err
	}
	if b.router, err = message.NewRouter(message.RouterConfig{CloseTimeout: 15 * time.Second}, logger); err != nil {
		return nil, err
	}
	if cfg.ErrorLog != nil {
		if err := b.setAsideFailures(cfg.ErrorLog, cfg.Retries, logger); err != nil {
			return nil, err
		}
	}
	processor, err := cqrs.NewCommandProcessorWithConfig(b.router, cqrs.CommandProcessorConfig{
		GenerateSubscribeTopic: func(cqrs.CommandProcessorGenerateSubscribeTopicParams) (string, error) { return topic, nil },
		SubscriberConstructor: func(cqrs.CommandProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			return b.sub, nil
		},
		Marshaler: strictMarshaler{commandMarshaler},
		Logger:    logger,
	})
	if err != nil {
		return nil, err
	}
	if err := processor.AddHandlers(cqrs.NewCommandHandler(messaging.CommandHandlerGroup, b.handle)); err != nil {
		return nil, err
	}
	return b, nil
}

// send queues cmd and acknowledges it as Accepted with its command ID (the
// message UUID) and version, the order's version as far as is known when it
// was accepted.
func (b *Bus) send(ctx context.Context, cmd busCommand, version int) (order.Ack, error) {
	id := order.NewID().String()
	err := b.bus.SendWithModifiedMessage(ctx, &cmd, func(m *message.Message) error {
		// Our own UUID, so that the caller learns it; the handler records
		// the command under it (and JetStream drops a copy of a command
		// sent alone published again with it).
		m.UUID = id
		m.Metadata.Set(metaCommandType, cmd.Type)
		m.Metadata.Set(metaOrderID, cmd.OrderID.String())
		return nil
	})
	if err != nil {
		// Nothing was queued: the caller may send the command again.
		return order.Ack{}, &httpapi.Unavailable{
			Message:    "the command bus does not answer: the command was not queued. Send it again shortly.",
			RetryAfter: 2 * time.Second,
			Err:        fmt.Errorf("queue %s for order %s: %w", cmd.Type, cmd.OrderID, err),
		}
	}
	b.counted.With("accepted").Inc()
	return order.Ack{ID: cmd.OrderID, Version: version, Accepted: true, CommandID: id}, nil
}

// inflight is the command being applied, given to the change-log hook
// through the context so that it records the command in the change's
// transaction.
type inflight struct {
	id       uuid.UUID
	typ      string
	recorded bool
}

type inflightKey struct{}

func withCommand(ctx context.Context, c *inflight) context.Context {
	return context.WithValue(ctx, inflightKey{}, c)
}

// RecordApplied is part of the repository's change-log hook: when the
// change comes from a bus command, it records the command as applied in the
// same transaction, so that the change and "this command is done" commit
// together.
func RecordApplied(ctx context.Context, tx bun.Tx, events []order.Event) error {
	c, _ := ctx.Value(inflightKey{}).(*inflight)
	if c == nil || len(events) == 0 {
		return nil
	}
	last := events[len(events)-1]
	row := processedRow{CommandID: c.id, OrderID: last.OrderID, Type: c.typ, Status: statusApplied, Version: last.OrderVersion, ProcessedAt: time.Now().UTC()}
	// A plain insert: a copy of this command applied concurrently makes
	// the primary key fail, and this transaction, change and all, rolls
	// back.
	if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
		return fmt.Errorf("record command %s: %w", c.id, err)
	}
	c.recorded = true
	return nil
}

// handle applies what a message taken off the bus carries: one command,
// or a group of them (handleGroup). It returns an error (the message is
// nacked and comes back after commandNakDelay) only when the write
// database failed: the command waits on the bus until it returns.
func (b *Bus) handle(ctx context.Context, cmd *busCommand) error {
	msg := cqrs.OriginalMessageFromCtx(ctx)
	if msg == nil {
		return errors.New("command without its message")
	}
	if cmd.Type == typeGroup {
		return b.handleGroup(ctx, cmd.unpack())
	}
	return b.handleOne(ctx, msg, cmd)
}

// handleOne applies one command in a transaction of its own.
func (b *Bus) handleOne(ctx context.Context, msg *message.Message, cmd *busCommand) (err error) {
	defer func() {
		if err != nil && !errors.Is(err, ErrWriteDown) && b.writeDown(ctx) {
			err = fmt.Errorf("%w: %w", ErrWriteDown, err)
		}
	}()
	id, err := uuid.Parse(commandID(msg))
	if err != nil {
		// Not one of ours: nothing can record it, and retrying will not help.
		b.log.ErrorContext(ctx, "command bus: dropping a command whose ID is not a UUID", "message", msg.UUID, "type", cmd.Type)
		return nil
	}
	if done, err := processed(ctx, b.write, id); err != nil || done {
		return err // done: a redelivered copy, applied or rejected before
	}
	c := &inflight{id: id, typ: cmd.Type}
	ack, err := b.apply(withCommand(ctx, c), cmd)
	switch code := order.ErrorCode(err); {
	case err == nil:
		if c.recorded {
			b.counted.With("applied").Inc()
			return nil
		}
		// A repeated place-order changes nothing and appends no events:
		// record it on its own.
		row := processedRow{CommandID: id, OrderID: cmd.OrderID, Type: cmd.Type, Status: statusApplied, Version: ack.Version, ProcessedAt: b.now().UTC()}
		if err := insertProcessed(ctx, b.write, &row); err != nil {
			return err
		}
		b.counted.With("applied").Inc()
		return nil
	case code == order.EINTERNAL:
		// A copy of this command may have been applied meanwhile (its
		// record made ours fail); otherwise the database failed.
		if done, perr := processed(ctx, b.write, id); perr == nil && done {
			return nil
		}
		b.log.WarnContext(ctx, "command bus: command will be retried", "command", id, "type", cmd.Type, "order", cmd.OrderID, "err", err)
		return err
	default:
		if err := b.write.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			return b.reject(ctx, tx, id, cmd, err)
		}); err != nil {
			return err
		}
		b.countRejected(cmd.OrderID)
		return nil
	}
}

// countRejected counts a rejection once it is recorded, and tells
// Config.Rejected.
func (b *Bus) countRejected(id order.ID) {
	b.counted.With("rejected").Inc()
	if b.rejected != nil {
		b.rejected(id)
	}
}

// reject records, in tx, a command that broke the order's rules; the
// message is then acked: trying again cannot help.
func (b *Bus) reject(ctx context.Context, tx bun.IDB, id uuid.UUID, cmd *busCommand, cause error) error {
	var de *order.Error
	errors.As(cause, &de)
	version := 0
	if de.Current != nil {
		version = de.Current.Version
	} else if err := tx.NewSelect().Table("orders").Column("version").Where("id = ?", cmd.OrderID).Scan(ctx, &version); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	row := processedRow{CommandID: id, OrderID: cmd.OrderID, Type: cmd.Type, Status: statusRejected, Version: version,
		ErrorCode: de.Code, ErrorMessage: de.Message, ProcessedAt: b.now().UTC()}
	b.log.InfoContext(ctx, "command bus: command rejected", "command", id, "type", cmd.Type, "order", cmd.OrderID, "err", cause)
	return insertProcessed(ctx, tx, &row)
}

// apply runs a bus command through the write model's handlers.
func (b *Bus) apply(ctx context.Context, c *busCommand) (order.Ack, error) {
	h := b.handlers
	switch {
	case c.Type == typePlace && c.Place != nil:
		return h.PlaceOrder(ctx, *c.Place)
	case c.Type == typeChangeLines && c.ChangeLines != nil:
		return h.ChangeOrderLines(ctx, *c.ChangeLines)
	case c.Type == typeShip && c.Ship != nil:
		return h.ShipOrder(ctx, *c.Ship)
	case c.Type == typeDeliver && c.Deliver != nil:
		return h.DeliverOrder(ctx, *c.Deliver)
	case c.Type == typeCancel && c.Cancel != nil:
		return h.CancelOrder(ctx, *c.Cancel)
	case c.Type == typeDelete && c.Delete != nil:
		return h.DeleteOrder(ctx, *c.Delete)
	}
	return order.Ack{}, order.Errorf(order.EINVALID, "unknown command %q", c.Type)
}

// Counted is how many commands this process queued ("accepted"),
// applied ("applied") and saw rejected ("rejected").
func (b *Bus) Counted(outcome string) float64 { return b.counted.With(outcome).Value() }

// Router is the router that takes commands off the bus; run it to apply
// them.
func (b *Bus) Router() *message.Router { return b.router }

// Close stops taking commands off the bus.
func (b *Bus) Close() error {
	return errors.Join(b.router.Close(), b.sub.Close(), b.group.Close())
}

// The statuses of a processed command.
const (
	statusApplied  = "applied"
	statusRejected = "rejected"
)

// processedRow is a processed_commands row.
type processedRow struct {
	bun.BaseModel `bun:"table:processed_commands"`

	CommandID    uuid.UUID `bun:"command_id,pk"`
	OrderID      uuid.UUID `bun:"order_id,notnull"`
	Type         string    `bun:"type,notnull"`
	Status       string    `bun:"status,notnull"`
	Version      int       `bun:"version,notnull"`
	ErrorCode    string    `bun:"error_code,notnull"`
	ErrorMessage string    `bun:"error_message,notnull"`
	ProcessedAt  time.Time `bun:"processed_at,notnull"`
}

// insertProcessed records a command unless a copy of it was recorded.
func insertProcessed(ctx context.Context, db bun.IDB, row *processedRow) error {
	if _, err := db.NewInsert().Model(row).On("CONFLICT (command_id) DO NOTHING").Exec(ctx); err != nil {
		return fmt.Errorf("record command %s: %w", row.CommandID, err)
	}
	return nil
}

// processed reports whether a command was applied or rejected already.
func processed(ctx context.Context, db bun.IDB, id uuid.UUID) (bool, error) {
	n, err := db.NewSelect().Model((*processedRow)(nil)).Where("command_id = ?", id).Count(ctx)
	if err != nil {
		return false, fmt.Errorf("look up command %s: %w", id, err)
	}
	return n > 0, nil
}
