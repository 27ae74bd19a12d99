package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
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
	marshaler wmnats.Marshaler
	nc        *nats.Conn
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
	marshaler := &wmnats.NATSMarshaler{} // UUID and metadata in NATS headers, payload as is
	inner, err := wmnats.NewPublisherWithNatsConn(nc, wmnats.PublisherPublishConfig{
		Marshaler: marshaler,
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
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(asyncAckTimeout))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Publisher{inner: inner, marshaler: marshaler, nc: nc, js: js, streamFor: cfg.StreamFor}, nil
}

func subjectCalculator(_ string, topic string) *wmnats.SubjectDetail {
	return &wmnats.SubjectDetail{Primary: Subject(topic)}
}

// Publish stores messages on topic, in order, and returns after JetStream acknowledged
// each of them (or at the first failure).
func (p *Publisher) Publish(topic string, messages ...*message.Message) error {
	if err := p.ensure(topic); err != nil {
		return err
	}
	return p.inner.Publish(topic, messages...)
}

// asyncAckTimeout is how long a PublishAsync future waits for JetStream's ack before it
// fails with a timeout.
const asyncAckTimeout = 10 * time.Second

// PublishAsync sends m to topic without waiting for JetStream to store it, exactly as
// Publish would send it (same headers, Nats-Msg-Id = its UUID), and returns the future of
// its ack: Ok() delivers the ack once JetStream stored the message, Err() the failure
// (a timeout after 10 s without an answer). Messages sent one after another are stored
// in that order, so a caller that keeps a window of futures gets JetStream's fsyncs
// grouped instead of one round trip per message. A message too large for the server
// fails here, with nats.ErrMaxPayload.
func (p *Publisher) PublishAsync(topic string, m *message.Message) (jetstream.PubAckFuture, error) {
	if err := p.ensure(topic); err != nil {
		return nil, err
	}
	nm, err := p.marshaler.Marshal(topic, m)
	if err != nil {
		return nil, fmt.Errorf("messaging: marshal message %s: %w", m.UUID, err)
	}
	f, err := p.js.PublishMsgAsync(nm, jetstream.WithMsgID(m.UUID))
	if err != nil {
		return nil, fmt.Errorf("publish message %s: %w", m.UUID, err)
	}
	return f, nil
}

// MaxBatch is the most messages PublishBatch takes at once (JetStream's default limit of
// an atomic batch).
const MaxBatch = 1000

// Errors of PublishBatch that publishing the messages one at a time (PublishAsync) gets
// past.
var (
	// ErrBatchDuplicate: a message of the batch was stored before (its UUID is in the
	// stream's duplicate window), so JetStream refused the whole batch.
	ErrBatchDuplicate = errors.New("messaging: the batch holds a message stored before")
	// ErrBatchDisabled: the topic's stream does not take atomic batches (a stream not
	// provisioned with AtomicBatches, or a server older than 2.12).
	ErrBatchDisabled = errors.New("messaging: the stream takes no atomic batches")
)

// PublishBatch stores messages on topic, in order, as one atomic batch: JetStream stores
// all of them or none, and acknowledges the batch once — on a server with SyncAlways,
// after one fsync for the whole batch rather than one per message. Each message carries
// what Publish gives it (Nats-Msg-Id = its UUID). The topic's stream must take atomic
// batches (StreamConfig.AtomicBatches); when one of the messages was stored before,
// JetStream refuses the batch (ErrBatchDuplicate), and a message too large fails with
// nats.ErrMaxPayload before the batch is committed.
func (p *Publisher) PublishBatch(ctx context.Context, topic string, messages []*message.Message) error {
	if len(messages) == 0 {
		return nil
	}
	if len(messages) > MaxBatch {
		return fmt.Errorf("messaging: a batch of %d messages (at most %d)", len(messages), MaxBatch)
	}
	if !atomicBatchesServed(p.nc) {
		return ErrBatchDisabled
	}
	if err := p.ensure(topic); err != nil {
		return err
	}
	id := uuid.NewString()
	for i, m := range messages {
		nm, err := p.marshaler.Marshal(topic, m)
		if err != nil {
			return fmt.Errorf("messaging: marshal message %s: %w", m.UUID, err)
		}
		nm.Header.Set(nats.MsgIdHdr, m.UUID)
		nm.Header.Set(batchIDHdr, id)
		nm.Header.Set(batchSeqHdr, strconv.Itoa(i+1))
		if i < len(messages)-1 {
			if err := p.nc.PublishMsg(nm); err != nil {
				return fmt.Errorf("publish message %s: %w", m.UUID, err)
			}
			continue
		}
		nm.Header.Set(batchCommitHdr, "1")
		ctx, cancel := context.WithTimeout(ctx, asyncAckTimeout)
		resp, err := p.nc.RequestMsgWithContext(ctx, nm)
		cancel()
		if err != nil {
			return fmt.Errorf("commit a batch of %d messages: %w", len(messages), err)
		}
		return batchAck(resp.Data, len(messages))
	}
	return nil
}

// The headers of JetStream's atomic batch publish (ADR-50).
const (
	batchIDHdr     = "Nats-Batch-Id"
	batchSeqHdr    = "Nats-Batch-Sequence"
	batchCommitHdr = "Nats-Batch-Commit"
)

// JetStream's error codes for a batch that publishing one at a time gets past.
const (
	errCodeBatchDuplicate jetstream.ErrorCode = 10201
	errCodeBatchDisabled  jetstream.ErrorCode = 10174
)

// batchAck reads the answer to a batch's commit.
func batchAck(data []byte, n int) error {
	var ack struct {
		Error *jetstream.APIError `json:"error"`
		Count int                 `json:"count"`
	}
	if err := json.Unmarshal(data, &ack); err != nil {
		return fmt.Errorf("messaging: the answer to a batch commit: %w", err)
	}
	switch {
	case ack.Error == nil && ack.Count == n:
		return nil
	case ack.Error == nil:
		return fmt.Errorf("messaging: JetStream stored %d messages of a batch of %d", ack.Count, n)
	case ack.Error.ErrorCode == errCodeBatchDuplicate:
		return fmt.Errorf("%w: %w", ErrBatchDuplicate, ack.Error)
	case ack.Error.ErrorCode == errCodeBatchDisabled:
		return fmt.Errorf("%w: %w", ErrBatchDisabled, ack.Error)
	}
	return fmt.Errorf("messaging: a batch of %d messages: %w", n, ack.Error)
}

// ensure ensures topic's stream once per publisher, and refuses to publish once closed.
func (p *Publisher) ensure(topic string) error {
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
	return nil
}

// Close stops the publisher. The connection stays open (it is the caller's).
func (p *Publisher) Close() error {
	p.closed.Store(true)
	return nil
}
