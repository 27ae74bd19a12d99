package stage3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"
	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/trace"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/metrics"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/command"
	"github.com/staircase/staircase/stages/stage3/commandbus"
	"github.com/staircase/staircase/stages/stage3/errorlog"
	"github.com/staircase/staircase/stages/stage3/projection"
	"github.com/staircase/staircase/stages/stage3/rebuild"
	"github.com/staircase/staircase/stages/stage3/workshop"
)

// Config is what stage 3 runs on.
type Config struct {
	// Write is the database of record (migrated write side); Read the read
	// database (migrated read side). Required.
	Write, Read *bun.DB
	// NATS is a connection to a NATS server with JetStream. Required.
	NATS *nats.Conn
	// Namespace prefixes the topics, so that several Staircases (tests)
	// can share one NATS server. Empty in production.
	Namespace string
	// Retries is how often the projector retries an event before parking
	// it in the error log (default 8).
	Retries int
	// CommandRetries is how often the command bus retries a command that
	// fails while the write database answers, before it parks the command
	// in the error log (default 5).
	CommandRetries int
	Logger         *slog.Logger
	// CommandBus is CommandBusSync (default) or CommandBusAsync: whether
	// commands are applied in the request or queued on the command bus.
	CommandBus string
	// Metrics gets the relay's and the projector's counters and the bus
	// backlog (metrics.go); nil counts nothing.
	Metrics *metrics.Registry
	// Workshop turns on the workshop controls (workshop.go), all off to
	// begin with.
	Workshop bool
	// Workers are the workers Start runs in this process (roles.go): nil
	// runs them all, an empty list none.
	Workers []Worker
	// StreamReplicas is how many copies of each stream a NATS cluster
	// keeps (1 if 0).
	StreamReplicas int
	// Tracer, if set, traces each command's path through the stage
	// (tracing.go); nil traces nothing.
	Tracer trace.Tracer
}

// The values of Config.CommandBus.
const (
	// CommandBusSync applies each command in the request that sends it.
	CommandBusSync = "sync"
	// CommandBusAsync checks a command's own fields, queues it on the
	// command bus and answers 202 Accepted; the command handler applies it
	// later, at the rate the write database sustains (commandbus).
	CommandBusAsync = "async"
)

// Stage is stage 3 behind the BFF's ports: a command side and a query side.
type Stage struct {
	// Commands is the write side: the command handlers (command), or in
	// async mode the command bus's queue in front of them.
	Commands
	// readModel is the read side: the read database's model (projection),
	// in async mode with the command bus's rejections on the order page.
	readModel

	cfg       Config
	relay     *Relay
	projector *Projector
	pub       *messaging.Publisher
	sub       *messaging.Subscriber
	router    *message.Router
	topics    topics
	bus       *commandbus.Bus
	// workshop holds the workshop controls; nil without Config.Workshop.
	workshop *workshop.Controls
	// history is the lag graph's samples (laghistory.go).
	history *lagHistory
	// dashboard is the event bus's second consumer (dashboard.go).
	dashboard *DashboardProjector

	// changed is told of the orders whose read side changed (changes.go).
	changed atomic.Pointer[func(order.ID)]

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type topics struct{ events, commands string }

// readModel is what stage 3's queries read: the retrieve API's Queries,
// and the version of one order, for the BFF's freshness marks.
type readModel interface {
	Queries
	Version(ctx context.Context, id order.ID) (version int, found bool, err error)
}

// New builds stage 3. Start runs its relay and projector.
func New(cfg Config) (*Stage, error) {
	if cfg.Write == nil || cfg.Read == nil || cfg.NATS == nil {
		return nil, errors.New("stage 3 needs a write database, a read database and NATS")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Retries == 0 {
		cfg.Retries = 8
	}
	switch cfg.CommandBus {
	case "", CommandBusSync:
	case CommandBusAsync:
	default:
		return nil, fmt.Errorf("command bus must be %s or %s, not %q", CommandBusSync, CommandBusAsync, cfg.CommandBus)
	}
	s := &Stage{cfg: cfg, topics: topics{events: cfg.Namespace + messaging.EventsTopic, commands: cfg.Namespace + messaging.CommandsTopic},
		history: newLagHistory()}
	logger := watermill.NewSlogLogger(cfg.Logger.With("component", "watermill"))
	var err error
	streams := messaging.StreamsWithReplicas(cfg.StreamReplicas)
	if s.pub, err = messaging.NewPublisher(cfg.NATS, messaging.PublisherConfig{Logger: logger, StreamFor: streams}); err != nil {
		return nil, err
	}
	subCfg := messaging.SubscriberConfig{
		ConsumerGroup: cfg.Namespace + messaging.ProjectorGroup,
		Consumer:      messaging.ConsumerConfig{AckWait: busAckWait, Description: "stage 3 projector"},
		Logger:        logger,
		StreamFor:     streams,
	}
	if cfg.Workshop {
		s.workshop = workshop.New(busAckWait, cfg.CommandBus == CommandBusAsync)
		subCfg = workshopSubscriber(subCfg)
	}
	if s.sub, err = messaging.NewSubscriber(cfg.NATS, subCfg); err != nil {
		return nil, err
	}
	s.relay = NewRelay(cfg.Write, s.pub, s.topics.events, cfg.Logger.With("component", "relay"))
	repo := command.NewRepository(cfg.Write, command.WithChangeLog(s.traceChangeLog(s.workshopChangeLog(func(ctx context.Context, tx bun.Tx, events []order.Event) error {
		if err := changelog.Append(ctx, tx, events); err != nil {
			return err
		}
		return commandbus.RecordApplied(ctx, tx, events)
	}))), command.AfterCommit(s.relay.Wake), command.JoinTx(commandbus.GroupTx))
	// The write side, with the workshop's decorator when it is on
	// (workshop.go).
	handlers := s.traceWriteSide(s.workshopWriteSide(command.New(repo)))
	reads := projection.NewReadModel(cfg.Read)
	s.Commands, s.readModel = handlers, reads
	// The command handler runs in either mode, so that commands queued by
	// an async instance are applied by whichever instances run.
	if s.bus, err = commandbus.New(commandbus.Config{
		Write: cfg.Write, NATS: cfg.NATS, Topic: s.topics.commands, Group: cfg.Namespace + messaging.CommandHandlerGroup,
		AckWait: busAckWait, Logger: cfg.Logger, Metrics: cfg.Metrics,
		ErrorLog: errorlog.Commands{Read: cfg.Read}, Retries: cfg.CommandRetries,
		Rejected: s.tell, StreamFor: streams, Decorate: s.traceCommandBus, Committed: s.relay.Wake,
	}, handlers, s.pub, logger); err != nil {
		return nil, err
	}
	if cfg.CommandBus == CommandBusAsync {
		s.Commands, s.readModel = s.bus.Queue(reads), s.bus.Rejections(reads)
	}
	// With the workshop controls, command_bus switches the two live
	// (workshop.go).
	s.workshopCommandBus(handlers, reads)
	s.projector = &Projector{read: cfg.Read, log: cfg.Logger.With("component", "projector"), metrics: newStageMetrics(cfg.Metrics),
		applied: func(e order.Event) { s.tell(e.OrderID) }}
	s.projector.batch = newBatch(cfg.Read, s.projector.log)
	s.projector.batches = []*batch{s.projector.batch}
	s.projector.rows = projection.NewBatch(projection.Live)
	s.projector.batch.beforeCommit(func(ctx context.Context, tx bun.Tx) error { return s.projector.rows.Write(ctx, tx) },
		s.projector.rows.Discard)
	s.relay.published = s.projector.metrics.published
	// The operations plug in: the error log around the relay and the
	// projector, the sync from the database of record for the gaps no event
	// fills.
	m := s.projector.metrics
	s.relay.parker = errorlog.Relay{Read: cfg.Read, Parked: m.parked.Inc}
	s.projector.gaps = rebuild.Syncer{Write: cfg.Write, Read: cfg.Read}
	// The workshop controls plug in at the relay's hook and the
	// projector's router (workshop.go).
	s.plugWorkshop()
	s.plugTracing()
	holding := errorlog.Projector{Read: cfg.Read, Retries: cfg.Retries, Log: s.projector.log, Hooks: errorlog.Hooks{
		Parked: m.parked.Inc, Held: m.held.Inc,
		Duplicate: func(e order.Event) { m.outcome(projection.OutcomeDuplicate, e) },
		Replayed:  m.applied.Add,
	}, Commit: s.projector.batch.flush, Clear: s.projector.batch.ask}
	registerBacklog(cfg.Metrics, cfg.NATS, s.consumers())
	if s.router, err = s.projector.router(s.workshopEvents(s.sub), s.topics.events, s.workshopHolding(holding), logger); err != nil {
		return nil, err
	}
	// The dashboard projection, on a consumer of its own (dashboard.go).
	if err := s.addDashboard(subCfg); err != nil {
		return nil, err
	}
	return s, nil
}

// Start runs the command handler, the relay and the projector until Close.
// It returns once both routers run, or with the error of one that could
// not start (a router that fails to start never reports running).
func (s *Stage) Start(ctx context.Context) error {
	run, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	errc := make(chan error, 2)
	var started []*message.Router
	if s.runs(WorkerCommands) {
		started = append(started, s.bus.Router())
		s.wg.Go(func() {
			if err := s.bus.Router().Run(run); err != nil {
				s.cfg.Logger.Error("command handler stopped", "err", err)
				errc <- fmt.Errorf("command handler: %w", err)
			}
		})
	}
	if s.runs(WorkerRelay) {
		s.wg.Go(func() {
			if err := s.relay.Run(run); err != nil {
				s.cfg.Logger.Error("relay stopped", "err", err)
			}
		})
	}
	if s.runs(WorkerProjector) {
		started = append(started, s.router)
		s.wg.Go(func() {
			if err := s.router.Run(run); err != nil {
				s.cfg.Logger.Error("projector stopped", "err", err)
				errc <- fmt.Errorf("projector: %w", err)
			}
		})
	}
	s.wg.Go(func() { s.history.run(run, lagInterval, s.sampleLag) })
	timeout := time.NewTimer(startTimeout)
	defer timeout.Stop()
	for _, r := range started {
		select {
		case <-r.Running():
		case err := <-errc:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout.C:
			return fmt.Errorf("stage 3 did not start within %s: is NATS reachable?", startTimeout)
		}
	}
	return nil
}

// busAckWait is how long the bus waits for an instance to acknowledge a
// message before it gives the message to another. Each message takes
// milliseconds here, so a short wait only matters when an instance died
// holding messages: its events and commands come back after this long.
const busAckWait = 10 * time.Second

// startTimeout bounds how long Start waits for the routers to subscribe.
const startTimeout = time.Minute

// Close stops the relay and the projector and waits for them.
func (s *Stage) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	// A router that never ran would wait for its handlers until its
	// close timeout: only the ones this process runs are closed.
	var err error
	if s.runs(WorkerProjector) {
		err = s.router.Close()
		// The events applied since the last commit are committed and
		// acknowledged now, rather than delivered again after a restart.
		s.projector.flush()
	}
	if s.runs(WorkerCommands) {
		err = errors.Join(err, s.bus.Close())
	}
	s.wg.Wait()
	return errors.Join(err, s.pub.Close(), s.sub.Close(), s.dashboard.sub.Close())
}

// Routes mounts the modify API and the retrieve API, stage 2's, and the
// status of commands queued on the command bus.
func (s *Stage) Routes(r fiber.Router) {
	commandRoutes(r, s.Commands)
	queryRoutes(r, s.readModel)
	commandbus.StatusRoute(r, s.bus)
}

// CommandStatus tells whether a command queued on the command bus was
// applied or rejected (commandbus.Bus.CommandStatus).
func (s *Stage) CommandStatus(ctx context.Context, commandID string) (commandbus.Status, error) {
	return s.bus.CommandStatus(ctx, commandID)
}

// Enter brings the read database — the order rows and the dashboard —
// up to date with the database of record before the stage becomes active:
// orders changed while another stage was active have no events, so their
// rows are the truth to sync from. A read database far behind (new,
// dropped, restored) is rebuilt instead, the way Rebuild does it
// (rebuild.Enter).
func (s *Stage) Enter(ctx context.Context, progress func(done, total int64)) error {
	return rebuild.Enter(ctx, s.cfg.Write, s.cfg.Read, s.projector.exclusive(), s.cfg.Logger, progress)
}
