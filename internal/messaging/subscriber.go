package messaging

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmjs "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultPullBatch is how many messages a subscription pulls ahead of its handler. The
// handler takes them one at a time, and JetStream's AckWait runs for all of them from
// delivery, so the batch must be processable well within AckWait.
const DefaultPullBatch = 64

// SubscriberConfig configures NewSubscriber. The zero value gives ephemeral consumers.
type SubscriberConfig struct {
	// ConsumerGroup names the durable consumer that subscribers share (ProjectorGroup,
	// CommandHandlerGroup, or a Watermill handler name; made valid with ConsumerName).
	// Subscribe ensures it exists and binds to it; it is never deleted by the subscriber,
	// so a restart resumes after the last acknowledged message, and each message goes to
	// one subscriber of the group.
	//
	// Empty: every Subscribe call gets its own ephemeral consumer that delivers the whole
	// stream from the start and is deleted when the subscription ends (for tools, tests,
	// and live views).
	ConsumerGroup string
	// Consumer tunes the durable consumer (AckWait, MaxAckPending).
	Consumer ConsumerConfig
	// NakDelay is how long JetStream waits before redelivering a nacked message (0: at
	// once). Watermill's Retry middleware usually retries before a nack happens.
	NakDelay time.Duration
	// PullBatch is the pull-ahead per subscription (DefaultPullBatch).
	PullBatch int
	// StreamFor returns the stream that carries a topic. By default: the stream of the
	// topic in Topology, else StreamConfigFor(topic).
	StreamFor func(topic string) StreamConfig
	// Logger for Watermill (NopLogger if nil).
	Logger watermill.LoggerAdapter
}

// Subscriber is a Watermill subscriber on JetStream pull consumers. Each Subscribe call
// hands out one message at a time: the next comes after the handler acked or nacked the
// previous one. A message is acknowledged to JetStream only after the handler acked it;
// a nack asks for redelivery (after NakDelay); no answer within AckWait, or the end of the
// subscription, means JetStream redelivers it after AckWait.
//
// A handler that makes many messages durable at once (a projector that applies a batch of
// events in one transaction) takes over a message's JetStream answer with DeferAck: its
// ack then only lets the next message out, and JetStream hears of the message when the
// handler settles it, once the work holding it committed (or failed).
//
// The ack is not awaited (no double ack): waiting for the server to confirm each one
// costs a round trip, and on a stream that syncs every write a disk sync, per message,
// which held a projector to the disk's sync rate. An ack lost on the way only means the
// message comes again, which every handler here must bear anyway (at least once): the
// projector skips an event at or below the version it holds, the command handler a
// command it has processed.
//
// Messages are decoded as watermill-nats encodes them (UUID and metadata in NATS headers),
// so the Publisher of this package, or any watermill-nats publisher, can feed it. The
// receiving loop is our own rather than watermill-nats' jetstream.Subscriber: that one
// (v2.1.3) closes its output channel while its NATS callback may still send on it, a
// data race that panics ("send on closed channel") when a subscription ends under load.
type Subscriber struct {
	js  jetstream.JetStream
	cfg SubscriberConfig

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	wg      sync.WaitGroup
}

var (
	_ message.Subscriber           = (*Subscriber)(nil)
	_ message.SubscribeInitializer = (*Subscriber)(nil)
)

// NewSubscriber returns a Subscriber over nc. nc stays the caller's: Close does not close
// it, so one connection can serve several publishers and subscribers.
func NewSubscriber(nc *nats.Conn, cfg SubscriberConfig) (*Subscriber, error) {
	if nc == nil {
		return nil, errors.New("messaging: NewSubscriber needs a NATS connection")
	}
	if cfg.StreamFor == nil {
		cfg.StreamFor = streamFor
	}
	if cfg.PullBatch <= 0 {
		cfg.PullBatch = DefaultPullBatch
	}
	if cfg.Consumer.AckWait <= 0 {
		cfg.Consumer.AckWait = DefaultAckWait
	}
	if cfg.Logger == nil {
		cfg.Logger = watermill.NopLogger{}
	}
	if cfg.ConsumerGroup != "" {
		cfg.ConsumerGroup = ConsumerName(cfg.ConsumerGroup)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Subscriber{js: js, cfg: cfg, closing: make(chan struct{})}, nil
}

// SubscribeInitialize ensures the stream of topic (and the durable consumer of the group).
func (s *Subscriber) SubscribeInitialize(topic string) error {
	ctx, cancel := context.WithTimeout(context.Background(), provisionTimeout)
	defer cancel()
	st := s.cfg.StreamFor(topic)
	if _, err := EnsureStream(ctx, s.js, st); err != nil {
		return err
	}
	if s.cfg.ConsumerGroup != "" {
		if _, err := EnsureConsumer(ctx, s.js, st.Name, s.cfg.ConsumerGroup, s.cfg.Consumer); err != nil {
			return err
		}
	}
	return nil
}

// provision ensures the stream and returns the consumer to read, with a function that
// removes it when the subscription ends (nil for a durable consumer: it stays).
func (s *Subscriber) provision(ctx context.Context, topic string) (jetstream.Consumer, func(), error) {
	st := s.cfg.StreamFor(topic)
	stream, err := EnsureStream(ctx, s.js, st)
	if err != nil {
		return nil, nil, err
	}
	if s.cfg.ConsumerGroup != "" {
		c, err := EnsureConsumer(ctx, s.js, st.Name, s.cfg.ConsumerGroup, s.cfg.Consumer)
		return c, nil, err
	}
	ccfg := durableConfig("", s.cfg.Consumer)
	ccfg.InactiveThreshold = 30 * time.Second // the server removes it if we cannot
	c, err := stream.CreateConsumer(ctx, ccfg)
	if err != nil {
		return nil, nil, fmt.Errorf("create ephemeral consumer on stream %s: %w", st.Name, err)
	}
	name := c.CachedInfo().Name
	remove := func() {
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := stream.DeleteConsumer(dctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			s.cfg.Logger.Info("cannot delete ephemeral consumer (the server will)", watermill.LogFields{"stream": st.Name, "consumer": name, "err": err})
		}
	}
	return c, remove, nil
}

// Subscribe returns the messages of topic, from the consumer group's durable consumer
// (or a new ephemeral consumer). The channel closes when ctx is done or the Subscriber is
// closed; messages not acked by then are redelivered after AckWait.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("messaging: subscriber closed")
	}
	s.wg.Add(1)
	s.mu.Unlock()

	pctx, cancel := context.WithTimeout(ctx, provisionTimeout)
	consumer, remove, err := s.provision(pctx, topic)
	cancel()
	if err != nil {
		s.wg.Done()
		return nil, err
	}
	iter, err := s.messages(consumer)
	if err != nil {
		if remove != nil {
			remove()
		}
		s.wg.Done()
		return nil, fmt.Errorf("pull from %s: %w", topic, err)
	}

	// subCtx ends the subscription: the caller's ctx or Close.
	subCtx, stop := context.WithCancel(ctx)
	go func() {
		select {
		case <-subCtx.Done():
		case <-s.closing:
		}
		stop()
	}()

	out := make(chan *message.Message)
	r := &receiver{s: s, topic: topic, consumer: consumer, out: out,
		fields: watermill.LogFields{"topic": topic, "consumer_group": s.cfg.ConsumerGroup}}
	go func() {
		defer s.wg.Done()
		defer stop()
		// The only goroutine that sends on out closes it, after its last send.
		defer close(out)
		r.run(subCtx, iter)
		if remove != nil {
			remove()
		}
	}()
	return out, nil
}

func (s *Subscriber) messages(c jetstream.Consumer) (jetstream.MessagesContext, error) {
	return c.Messages(
		jetstream.PullMaxMessages(s.cfg.PullBatch),
		// Keep waiting through server outages instead of failing Next; the iterator
		// pulls again when the connection is back.
		jetstream.WithMessagesErrOnMissingHeartbeat(false),
	)
}

// Close ends all subscriptions and waits until their channels are closed. The connection
// given to NewSubscriber stays open.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.mu.Unlock()

	s.wg.Wait()
	return nil
}

// receiver is one subscription's loop.
type receiver struct {
	s        *Subscriber
	topic    string
	consumer jetstream.Consumer
	out      chan<- *message.Message
	fields   watermill.LogFields
}

func (r *receiver) run(ctx context.Context, iter jetstream.MessagesContext) {
	// Next blocks; Stop (when ctx ends) makes it return ErrMsgIteratorClosed.
	stopped := make(chan struct{})
	defer close(stopped)
	current := iter
	var mu sync.Mutex
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		mu.Lock()
		current.Stop()
		mu.Unlock()
	}()

	for {
		jm, err := current.Next()
		if ctx.Err() != nil {
			return // Stop discarded the pulled-ahead messages; JetStream redelivers them
		}
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) && ctx.Err() != nil {
				return
			}
			r.s.cfg.Logger.Error("pulling messages failed, retrying", err, r.fields)
			if !r.sleep(ctx, time.Second) {
				return
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				// The consumer was deleted (by an operator): provision it again.
				if !r.restart(ctx, &mu, &current) {
					return
				}
			}
			continue
		}
		r.handle(ctx, jm)
	}
}

// restart provisions the consumer again and replaces the iterator; false once ctx ended.
func (r *receiver) restart(ctx context.Context, mu *sync.Mutex, current *jetstream.MessagesContext) bool {
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, provisionTimeout)
		consumer, _, err := r.s.provision(pctx, r.topic)
		cancel()
		if err == nil {
			iter, err2 := r.s.messages(consumer)
			if err2 == nil {
				mu.Lock()
				(*current).Stop()
				*current = iter
				mu.Unlock()
				if ctx.Err() != nil {
					iter.Stop()
					return false
				}
				return true
			}
			err = err2
		}
		r.s.cfg.Logger.Error("re-provisioning the consumer failed, retrying", err, r.fields)
		if !r.sleep(ctx, 2*time.Second) {
			return false
		}
	}
	return false
}

func (r *receiver) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// handle hands one message to the handler and answers JetStream with its verdict.
func (r *receiver) handle(ctx context.Context, jm jetstream.Msg) {
	msg, _ := lenientUnmarshaler{}.Unmarshal(jm)
	fields := r.fields.Add(watermill.LogFields{"message_uuid": msg.UUID})

	msgCtx, cancel := context.WithCancel(ctx)
	defer cancel() // the message's context ends once it is answered, or on close
	// A handler that holds the message on purpose (a paused projector)
	// tells JetStream it still works on it (InProgress); the wait below
	// then starts again, as JetStream's does.
	progress := make(chan struct{}, 1)
	msg.SetContext(context.WithValue(msgCtx, inProgressKey{}, func() error {
		if err := jm.InProgress(); err != nil {
			return err
		}
		select {
		case progress <- struct{}{}:
		default:
		}
		return nil
	}))

	// JetStream gets one answer per delivery: the first of the handler's
	// (ack or nack) and, when the handler took it over (DeferAck), its
	// settlement.
	var answer sync.Once
	ack := func() {
		answer.Do(func() {
			if err := jm.Ack(); err != nil {
				// JetStream will deliver it again: at least once.
				r.s.cfg.Logger.Error("cannot ack message", err, fields)
			}
		})
	}
	nak := func() {
		answer.Do(func() {
			var err error
			if r.s.cfg.NakDelay > 0 {
				err = jm.NakWithDelay(r.s.cfg.NakDelay)
			} else {
				err = jm.Nak()
			}
			if err != nil {
				r.s.cfg.Logger.Error("cannot nak message", err, fields)
			}
		})
	}
	var deferred atomic.Bool
	msg.SetContext(context.WithValue(msg.Context(), deferAckKey{}, func() Settle {
		deferred.Store(true)
		return func(done bool) {
			if done {
				ack()
			} else {
				nak()
			}
		}
	}))

	select {
	case r.out <- msg:
	case <-ctx.Done():
		return // not handed out: JetStream redelivers it after AckWait
	}

	timeout := time.NewTimer(r.s.cfg.Consumer.AckWait)
	defer timeout.Stop()
	for {
		select {
		case <-progress:
			timeout.Reset(r.s.cfg.Consumer.AckWait)
			continue
		case <-msg.Acked():
			if deferred.Load() {
				// The handler settles it with JetStream once its work is
				// durable; the next message may go out now.
				return
			}
			ack()
		case <-msg.Nacked():
			nak()
		case <-timeout.C:
			// JetStream has given up on this delivery and sends the message again.
			r.s.cfg.Logger.Info("no ack within AckWait; the message will be redelivered", fields)
		case <-ctx.Done():
			// Closing: JetStream redelivers it after AckWait.
		}
		return
	}
}

// inProgressKey keys, in a message's context, the function that tells
// JetStream the handler still works on the message.
type inProgressKey struct{}

// InProgress tells JetStream that the handler of the message whose context
// is ctx still works on it, so that AckWait starts again and the message
// is not delivered again meanwhile. A handler that holds a message longer
// than AckWait on purpose calls it well within each AckWait. It does
// nothing for a message that did not come from this package's Subscriber.
func InProgress(ctx context.Context) error {
	if f, ok := ctx.Value(inProgressKey{}).(func() error); ok {
		return f()
	}
	return nil
}

// deferAckKey keys, in a message's context, the function through which
// the handler takes over the message's answer to JetStream.
type deferAckKey struct{}

// Settle tells JetStream what became of a message whose answer the handler
// took over (DeferAck): done acknowledges it, not done asks for it again
// (after NakDelay). Only the first answer of a delivery counts — the
// handler's nack or a settlement, whichever comes first — so settling
// twice, or after a nack, does nothing.
type Settle func(done bool)

// DeferAck lets the handler of the message whose context is ctx answer
// JetStream itself, later: the handler's ack (msg.Ack) then only hands out
// the next message, and JetStream is told when the handler calls the Settle
// returned — typically once the transaction that holds the message's effect
// has committed (true) or failed (false). Until then JetStream counts the
// message as delivered and unanswered: if the process dies first, it is
// delivered again after AckWait, so nothing acknowledged can be lost. The
// handler must settle well within AckWait, and take the ack only once its
// work for the message succeeded (a nack still counts, and asks for the
// message again).
//
// ok is false for a message that did not come from this package's
// Subscriber (a copy made by a decorator, another Pub/Sub): its ack is the
// only answer, so the handler must finish its work before it acks.
func DeferAck(ctx context.Context) (settle Settle, ok bool) {
	if f, ok := ctx.Value(deferAckKey{}).(func() Settle); ok {
		return f(), true
	}
	return nil, false
}

// lenientUnmarshaler is watermill-nats' unmarshaler (UUID in the _watermill_message_uuid
// header, metadata in the other headers) without its failure mode: a header with several
// values becomes metadata joined with ", " instead of an undeliverable message.
type lenientUnmarshaler struct{}

func (lenientUnmarshaler) Unmarshal(msg jetstream.Msg) (*message.Message, error) {
	if m, err := (wmjs.DefaultUnmarshaler{}).Unmarshal(msg); err == nil {
		return m, nil
	}
	hdr := msg.Headers()
	md := make(message.Metadata, len(hdr))
	for k, v := range hdr {
		switch k {
		case wmnats.WatermillUUIDHdr, nats.MsgIdHdr, nats.ExpectedLastMsgIdHdr, nats.ExpectedStreamHdr, nats.ExpectedLastSubjSeqHdr, nats.ExpectedLastSeqHdr:
			continue
		}
		md.Set(k, strings.Join(v, ", "))
	}
	m := message.NewMessage(hdr.Get(wmnats.WatermillUUIDHdr), msg.Data())
	m.Metadata = md
	return m, nil
}
