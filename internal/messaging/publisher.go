package messaging

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// provisionTimeout bounds one EnsureStream / EnsureConsumer round trip.
const provisionTimeout = 10 * time.Second

// PublisherConfig configures NewPublisher. The zero value is ready to use.
type PublisherConfig struct {
	// Logger for Watermill (NopLogger if nil).
	Logger watermill.LoggerAdapter
	// StreamFor returns the stream that carries a topic. By default: the stream of the
	// topic in Topology, else StreamConfigFor(topic).
	StreamFor func(topic string) StreamConfig
}

// Publisher is a Watermill publisher to JetStream (watermill-nats pkg/nats in JetStream
// mode). Publish returns once JetStream has stored the message (the publish ack), each
// message carrying Nats-Msg-Id = its UUID for deduplication. The first publish to a topic
// ensures its stream, so a message is never published to a subject nothing stores.
type Publisher struct {
	inner     *wmnats.Publisher
	js        jetstream.JetStream
	streamFor func(string) StreamConfig
	ensured   sync.Map // topic → struct{}
	closed    atomic.Bool
}

var _ message.Publisher = (*Publisher)(nil)

// NewPublisher returns a Publisher over nc. nc stays the caller's: Close does not close it,
// so one connection can serve several publishers and subscribers.
func NewPublisher(nc *nats.Conn, cfg PublisherConfig) (*Publisher, error) {
	if nc == nil {
		return nil, errors.New("messaging: NewPublisher needs a NATS connection")
	}
	if cfg.StreamFor == nil {
		cfg.StreamFor = streamFor
	}
	inner, err := wmnats.NewPublisherWithNatsConn(nc, wmnats.PublisherPublishConfig{
		Marshaler: &wmnats.NATSMarshaler{}, // UUID and metadata in NATS headers, payload as is
		// NewPublisherWithNatsConn panics without a SubjectCalculator.
		SubjectCalculator: subjectCalculator,
		JetStream: wmnats.JetStreamConfig{
			// Nats-Msg-Id = Watermill UUID: JetStream drops a re-published copy.
			TrackMsgId: true,
			// Streams are the app's (EnsureStream), not watermill-nats' defaults.
			AutoProvision: false,
		},
	}, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("watermill-nats publisher: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Publisher{inner: inner, js: js, streamFor: cfg.StreamFor}, nil
}

func subjectCalculator(_ string, topic string) *wmnats.SubjectDetail {
	return &wmnats.SubjectDetail{Primary: Subject(topic)}
}

// Publish stores messages on topic, in order, and returns after JetStream acknowledged
// each of them (or at the first failure).
func (p *Publisher) Publish(topic string, messages ...*message.Message) error {
	if p.closed.Load() {
		return errors.New("messaging: publisher closed")
	}
	if _, ok := p.ensured.Load(topic); !ok {
		ctx, cancel := context.WithTimeout(context.Background(), provisionTimeout)
		_, err := EnsureStream(ctx, p.js, p.streamFor(topic))
		cancel()
		if err != nil {
			return err
		}
		p.ensured.Store(topic, struct{}{})
	}
	return p.inner.Publish(topic, messages...)
}

// Close stops the publisher. The connection stays open (it is the caller's).
func (p *Publisher) Close() error {
	p.closed.Store(true)
	return nil
}
