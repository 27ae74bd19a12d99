package stage3

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
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/cqrsapi"
	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/metrics"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/command"
)

// The values of Config.CommandBus.
const (
	// CommandBusSync applies each command in the request that sends it.
	CommandBusSync = "sync"
	// CommandBusAsync checks a command's shape, queues it on the command
	// bus and answers 202 Accepted; the command handler applies it later,
	// at the rate the write database sustains.
	CommandBusAsync = "async"
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
type busCommand struct {
	Type        string                  `json:"type"`
	OrderID     order.ID                `json:"order_id"`
	Place       *order.PlaceOrder       `json:"place,omitempty"`
	ChangeLines *order.ChangeOrderLines `json:"change_lines,omitempty"`
	Ship        *order.ShipOrder        `json:"ship,omitempty"`
	Deliver     *order.DeliverOrder     `json:"deliver,omitempty"`
	Cancel      *order.CancelOrder      `json:"cancel,omitempty"`
	Delete      *order.DeleteOrder      `json:"delete,omitempty"`
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
)

// Metadata key of a command message's type, for tools that look at the bus.
const metaCommandType = "command_type"

// commandBus sends commands to the bus (Watermill's cqrs.CommandBus) and
// applies the commands it receives (a cqrs.CommandProcessor on its own
// router) through stage 2's command handlers: the same write path as sync
// mode, so the events still reach the change log in the change's
// transaction.
type commandBus struct {
	write    *bun.DB
	handlers *command.Handlers
	bus      *cqrs.CommandBus
	sub      *messaging.Subscriber
	router   *message.Router
	log      *slog.Logger
	now      func() time.Time
	// counted counts the commands queued, applied and rejected, for
	// /metrics and the architecture page (nil counts nothing).
	counted *metrics.CounterVec
}

// commandMarshaler names every bus command the same, with JSON payloads.
var commandMarshaler = cqrs.JSONMarshaler{GenerateName: cqrs.StructName}

func newCommandBus(cfg Config, handlers *command.Handlers, pub message.Publisher, topic string, logger watermill.LoggerAdapter) (*commandBus, error) {
	b := &commandBus{write: cfg.Write, handlers: handlers, log: cfg.Logger.With("component", "command-handler"), now: time.Now}
	b.counted = cfg.Metrics.CounterVec(metrics.BusCommands,
		"Commands this process queued on the command bus (accepted), and applied or rejected taking them off it.", "outcome")
	var err error
	b.bus, err = cqrs.NewCommandBusWithConfig(pub, cqrs.CommandBusConfig{
		GeneratePublishTopic: func(cqrs.CommandBusGeneratePublishTopicParams) (string, error) { return topic, nil },
		Marshaler:            commandMarshaler,
		Logger:               logger,
	})
	if err != nil {
		return nil, err
	}
	b.sub, err = messaging.NewSubscriber(cfg.NATS, messaging.SubscriberConfig{
		ConsumerGroup: cfg.Namespace + messaging.CommandHandlerGroup,
		// One command in flight across all instances: commands apply
		// strictly in the order they were accepted, and a failing one
		// holds the others back instead of being overtaken.
		Consumer:  messaging.ConsumerConfig{MaxAckPending: 1, AckWait: busAckWait, Description: "stage 3 command handler"},
		NakDelay:  commandNakDelay,
		PullBatch: 1,
		Logger:    logger,
	})
	if err != nil {
		return nil, err
	}
	if b.router, err = message.NewRouter(message.RouterConfig{CloseTimeout: 15 * time.Second}, logger); err != nil {
		return nil, err
	}
	processor, err := cqrs.NewCommandProcessorWithConfig(b.router, cqrs.CommandProcessorConfig{
		GenerateSubscribeTopic: func(cqrs.CommandProcessorGenerateSubscribeTopicParams) (string, error) { return topic, nil },
		SubscriberConstructor: func(cqrs.CommandProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			return b.sub, nil
		},
		Marshaler: commandMarshaler,
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
func (b *commandBus) send(ctx context.Context, cmd busCommand, version int) (order.Ack, error) {
	id := order.NewID().String()
	err := b.bus.SendWithModifiedMessage(ctx, &cmd, func(m *message.Message) error {
		// Our own UUID, so that the caller learns it; JetStream drops a
		// copy published again with it.
		m.UUID = id
		m.Metadata.Set(metaCommandType, cmd.Type)
		m.Metadata.Set(metaOrderID, cmd.OrderID.String())
		return nil
	})
	if err != nil {
		return order.Ack{}, fmt.Errorf("queue %s for order %s: %w", cmd.Type, cmd.OrderID, err)
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

// recordApplied is part of the change-log hook: when the change comes from
// a bus command, it records the command as applied in the same transaction,
// so that the change and "this command is done" commit together.
func recordApplied(ctx context.Context, tx bun.Tx, events []order.Event) error {
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

// handle applies one command taken off the bus. It returns an error (the
// message is nacked and comes back after commandNakDelay) only when the
// write database failed: the command waits on the bus until it returns.
func (b *commandBus) handle(ctx context.Context, cmd *busCommand) error {
	msg := cqrs.OriginalMessageFromCtx(ctx)
	if msg == nil {
		return errors.New("command without its message")
	}
	id, err := uuid.Parse(msg.UUID)
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
		if err := b.reject(ctx, id, cmd, err); err != nil {
			return err
		}
		b.counted.With("rejected").Inc()
		return nil
	}
}

// reject records a command that broke the order's rules, in its own
// transaction; the message is then acked: trying again cannot help.
func (b *commandBus) reject(ctx context.Context, id uuid.UUID, cmd *busCommand, cause error) error {
	var de *order.Error
	errors.As(cause, &de)
	return b.write.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
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
	})
}

// apply runs a bus command through stage 2's command handlers.
func (b *commandBus) apply(ctx context.Context, c *busCommand) (order.Ack, error) {
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

func (b *commandBus) close() error {
	return errors.Join(b.router.Close(), b.sub.Close())
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

// The commands of stage 3. In sync mode they run in the caller's request;
// in async mode each is checked for its shape (bad input is refused at
// once, as in sync mode), queued on the command bus, and acknowledged as
// Accepted with its command ID.

// PlaceOrder places an order, or queues the command to.
func (s *Stage) PlaceOrder(ctx context.Context, cmd order.PlaceOrder) (order.Ack, error) {
	if !s.async {
		return s.Handlers.PlaceOrder(ctx, cmd)
	}
	if _, _, err := order.Place(cmd, time.Now()); err != nil {
		return order.Ack{}, err
	}
	return s.cmdbus.send(ctx, busCommand{Type: typePlace, OrderID: cmd.ID, Place: &cmd}, 0)
}

// ChangeOrderLines replaces an order's lines, or queues the command to.
func (s *Stage) ChangeOrderLines(ctx context.Context, cmd order.ChangeOrderLines) (order.Ack, error) {
	if !s.async {
		return s.Handlers.ChangeOrderLines(ctx, cmd)
	}
	if err := checkShape(cmd.ID, cmd.ExpectedVersion, func(o *order.Order) error {
		_, err := o.ChangeLines(order.ChangeOrderLines{Lines: cmd.Lines, ExpectedVersion: cmd.ExpectedVersion}, time.Now())
		return err
	}); err != nil {
		return order.Ack{}, err
	}
	return s.cmdbus.send(ctx, busCommand{Type: typeChangeLines, OrderID: cmd.ID, ChangeLines: &cmd}, s.versionNow(ctx, cmd.ID, cmd.ExpectedVersion))
}

// ShipOrder ships an order, or queues the command to.
func (s *Stage) ShipOrder(ctx context.Context, cmd order.ShipOrder) (order.Ack, error) {
	if !s.async {
		return s.Handlers.ShipOrder(ctx, cmd)
	}
	if err := checkShape(cmd.ID, cmd.ExpectedVersion, nil); err != nil {
		return order.Ack{}, err
	}
	return s.cmdbus.send(ctx, busCommand{Type: typeShip, OrderID: cmd.ID, Ship: &cmd}, s.versionNow(ctx, cmd.ID, cmd.ExpectedVersion))
}

// DeliverOrder marks an order delivered, or queues the command to.
func (s *Stage) DeliverOrder(ctx context.Context, cmd order.DeliverOrder) (order.Ack, error) {
	if !s.async {
		return s.Handlers.DeliverOrder(ctx, cmd)
	}
	if err := checkShape(cmd.ID, cmd.ExpectedVersion, nil); err != nil {
		return order.Ack{}, err
	}
	return s.cmdbus.send(ctx, busCommand{Type: typeDeliver, OrderID: cmd.ID, Deliver: &cmd}, s.versionNow(ctx, cmd.ID, cmd.ExpectedVersion))
}

// CancelOrder cancels an order, or queues the command to.
func (s *Stage) CancelOrder(ctx context.Context, cmd order.CancelOrder) (order.Ack, error) {
	if !s.async {
		return s.Handlers.CancelOrder(ctx, cmd)
	}
	if err := checkShape(cmd.ID, cmd.ExpectedVersion, func(o *order.Order) error {
		_, err := o.Cancel(order.CancelOrder{Reason: cmd.Reason, ExpectedVersion: cmd.ExpectedVersion}, time.Now())
		return err
	}); err != nil {
		return order.Ack{}, err
	}
	return s.cmdbus.send(ctx, busCommand{Type: typeCancel, OrderID: cmd.ID, Cancel: &cmd}, s.versionNow(ctx, cmd.ID, cmd.ExpectedVersion))
}

// DeleteOrder deletes an order, or queues the command to.
func (s *Stage) DeleteOrder(ctx context.Context, cmd order.DeleteOrder) (order.Ack, error) {
	if !s.async {
		return s.Handlers.DeleteOrder(ctx, cmd)
	}
	if err := checkShape(cmd.ID, cmd.ExpectedVersion, nil); err != nil {
		return order.Ack{}, err
	}
	return s.cmdbus.send(ctx, busCommand{Type: typeDelete, OrderID: cmd.ID, Delete: &cmd}, s.versionNow(ctx, cmd.ID, cmd.ExpectedVersion))
}

// versionNow is the order's version when a command for it is accepted: the
// one the command expects, else the read model's (quick, and there while
// the write database is down), else 0. The BFF waits for the version after
// it before it calls the order fresh.
func (s *Stage) versionNow(ctx context.Context, id order.ID, expected int) int {
	if expected > 0 {
		return expected
	}
	ctx, cancel := context.WithTimeout(ctx, rejectionTimeout)
	defer cancel()
	v, _, err := s.ReadModel.Version(ctx, id)
	if err != nil {
		return 0
	}
	return v
}

// checkShape refuses what a command's own fields get wrong, before it is
// queued: a missing ID, a negative expected version, and, through rule, the
// aggregate's field rules run on a stand-in order that allows everything
// else. Only EINVALID counts: whether the real order's status and version
// allow the command is the command handler's to decide.
func checkShape(id order.ID, expected int, rule func(*order.Order) error) error {
	if id == uuid.Nil {
		return &order.Error{Code: order.EINVALID, Message: "the order ID is not valid",
			Fields: []order.FieldError{{Field: "id", Message: "is required (a UUID)"}}}
	}
	if expected < 0 {
		return &order.Error{Code: order.EINVALID, Message: "the expected version is not valid",
			Fields: []order.FieldError{{Field: "expected_version", Message: "must be a positive version"}}}
	}
	if rule == nil {
		return nil
	}
	standIn := &order.Order{ID: id, Status: order.Placed, Version: max(expected, 1)}
	if err := rule(standIn); order.ErrorCode(err) == order.EINVALID {
		return err
	}
	return nil
}

// CommandStatus tells whether a queued command was applied or rejected
// (cqrsapi.CommandStatuses): "queued" while the write database has no
// record of it. It fails when the write database cannot be read.
func (s *Stage) CommandStatus(ctx context.Context, commandID string) (cqrsapi.CommandStatus, error) {
	id, err := uuid.Parse(commandID)
	if err != nil {
		return cqrsapi.CommandStatus{}, order.Errorf(order.ENOTFOUND, "there is no command %q: command IDs are UUIDs", commandID)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var row processedRow
	err = s.cfg.Write.NewSelect().Model(&row).Where("command_id = ?", id).Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return cqrsapi.CommandStatus{CommandID: id.String(), Status: cqrsapi.CommandQueued}, nil
	case err != nil:
		return cqrsapi.CommandStatus{}, fmt.Errorf("read the status of command %s: %w", id, err)
	}
	st := cqrsapi.CommandStatus{CommandID: id.String(), OrderID: row.OrderID, Type: row.Type, Status: row.Status, Version: row.Version}
	if row.Status == statusRejected {
		st.Err = row.err()
	}
	return st, nil
}

// err rebuilds the domain error a rejected command failed with.
func (r processedRow) err() error {
	e := &order.Error{Code: r.ErrorCode, Message: r.ErrorMessage}
	if r.ErrorCode == order.ECONFLICT && r.Version > 0 {
		// The problem tells the current version, as a sync conflict does.
		e.Current = &order.Order{ID: r.OrderID, Version: r.Version}
	}
	return e
}

// rejectionTimeout bounds the look-up of a rejection in the write database
// on the read path: a down write database must not slow the order page.
const rejectionTimeout = 300 * time.Millisecond

// OrderDetail is the read model's order detail; in async mode with the
// rejection of the newest command that failed its rules after it was
// accepted, as long as the order has not changed since.
func (s *Stage) OrderDetail(ctx context.Context, id order.ID) (order.Detail, error) {
	d, err := s.ReadModel.OrderDetail(ctx, id)
	if err != nil || !s.async {
		return d, err
	}
	d.Rejection = s.rejection(ctx, id, d.Version)
	return d, nil
}

// rejection reads the newest rejected command of an order that is not older
// than version (its record holds the order's version when it was
// rejected), or "" when there is none or the write database does not
// answer in time.
func (s *Stage) rejection(ctx context.Context, id order.ID, version int) string {
	ctx, cancel := context.WithTimeout(ctx, rejectionTimeout)
	defer cancel()
	var row processedRow
	err := s.cfg.Write.NewSelect().Model(&row).
		Where("order_id = ? AND status = ? AND version >= ?", id, statusRejected, version).
		OrderExpr("version DESC, processed_at DESC").Limit(1).Scan(ctx)
	if err != nil {
		if !errors.Is(err, sql.ErrNoRows) {
			s.cfg.Logger.DebugContext(ctx, "no rejection shown: the write database did not answer", "order", id, "err", err)
		}
		return ""
	}
	return "rejected: " + row.ErrorMessage
}
