package messaging

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
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

// Subscriber is a Watermill subscriber on JetStream pull consumers, built on the
// watermill-nats jetstream subscriber. Messages come one at a time per Subscribe call;
// the next one comes after the handler acked or nacked. A message is acknowledged to
// JetStream only after the handler acked it, and the ack is confirmed by the server
// (double ack); a nack asks for redelivery; no answer within AckWait means redelivery.
//
// Each Subscribe call opens its own connection with the options of the connection given
// to NewSubscriber, because the watermill-nats subscriber drains its connection when it
// closes; the connection given stays the caller's.
type Subscriber struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	cfg SubscriberConfig

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	wg      sync.WaitGroup
	errs    []error
}

var (
	_ message.Subscriber           = (*Subscriber)(nil)
	_ message.SubscribeInitializer = (*Subscriber)(nil)
)

// NewSubscriber returns a Subscriber that provisions through nc and opens one connection
// per subscription with nc's options.
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
	return &Subscriber{nc: nc, js: js, cfg: cfg, closing: make(chan struct{})}, nil
}

// SubscribeInitialize ensures the stream of topic (and the durable consumer of the group).
func (s *Subscriber) SubscribeInitialize(topic string) error {
	ctx, cancel := context.WithTimeout(context.Background(), provisionTimeout)
	defer cancel()
	_, _, err := s.provision(ctx, topic)
	return err
}

// provision ensures the stream and returns the consumer to bind to, with a function that
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
			s.cfg.Logger.Error("cannot delete ephemeral consumer", err, watermill.LogFields{"stream": st.Name, "consumer": name})
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
	started := false
	defer func() {
		if !started {
			s.wg.Done()
		}
	}()

	pctx, cancel := context.WithTimeout(ctx, provisionTimeout)
	consumer, remove, err := s.provision(pctx, topic)
	cancel()
	if err != nil {
		return nil, err
	}
	cleanupConsumer := func() {
		if remove != nil {
			remove()
		}
	}

	conn, err := s.nc.Opts.Connect()
	if err != nil {
		cleanupConsumer()
		return nil, fmt.Errorf("connect subscription of %s: %w", topic, err)
	}
	var nakDelay wmjs.Delay
	if s.cfg.NakDelay > 0 {
		nakDelay = wmjs.NewStaticDelay(s.cfg.NakDelay)
	}
	ackWait := s.cfg.Consumer.AckWait
	if ackWait <= 0 {
		ackWait = DefaultAckWait
	}
	inner, err := wmjs.NewSubscriber(wmjs.SubscriberConfig{
		Conn:   conn,
		Logger: s.cfg.Logger,
		// How long watermill-nats waits for the handler's ack: as long as JetStream does.
		AckWaitTimeout: ackWait,
		NakDelay:       nakDelay,
		// Bind to the consumer provisioned above; never let the subscriber create one.
		ResourceInitializer: func(context.Context, jetstream.JetStream, string) (jetstream.Consumer, func(context.Context, watermill.LoggerAdapter), error) {
			return consumer, func(context.Context, watermill.LoggerAdapter) { cleanupConsumer() }, nil
		},
		ConsumeOptions: []jetstream.PullConsumeOpt{jetstream.PullMaxMessages(s.cfg.PullBatch)},
		AckAsync:       false, // wait until JetStream confirmed the ack
		Unmarshaler:    lenientUnmarshaler{},
	})
	if err != nil {
		conn.Close()
		cleanupConsumer()
		return nil, fmt.Errorf("watermill-nats subscriber: %w", err)
	}
	// The inner subscriber sees a context that is never cancelled: its cancellation path
	// closes the output channel while messages may still be handed to it. Ending the
	// subscription through Close is safe, so ctx cancellation is turned into a Close.
	out, err := inner.Subscribe(context.WithoutCancel(ctx), topic)
	if err != nil {
		_ = inner.Close()
		cleanupConsumer()
		return nil, fmt.Errorf("subscribe to %s: %w", topic, err)
	}
	started = true
	go func() {
		defer s.wg.Done()
		select {
		case <-ctx.Done():
		case <-s.closing:
		}
		if err := inner.Close(); err != nil {
			s.mu.Lock()
			s.errs = append(s.errs, fmt.Errorf("close subscription of %s: %w", topic, err))
			s.mu.Unlock()
		}
	}()
	return out, nil
}

// Close ends all subscriptions and waits for them. The connection given to NewSubscriber
// stays open.
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

	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.errs...)
}

// lenientUnmarshaler is watermill-nats' unmarshaler without its failure mode: a header
// with several values (which watermill-nats rejects, and then dereferences a nil message)
// becomes metadata joined with ", ".
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
