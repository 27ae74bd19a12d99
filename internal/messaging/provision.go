package messaging

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of the streams and consumers the app provisions.
const (
	// DefaultDuplicateWindow is how long JetStream remembers a Nats-Msg-Id (the Watermill
	// message UUID): a copy published again within it is acknowledged and dropped. It
	// covers a forwarder that crashed between publishing and marking the outbox row sent.
	// Later copies reach the handlers, which are idempotent anyway.
	DefaultDuplicateWindow = 10 * time.Minute
	// DefaultAckWait is how long a delivered message may stay unacknowledged before
	// JetStream delivers it again (to this or another instance).
	DefaultAckWait = 30 * time.Second
	// DefaultMaxAckPending caps the messages delivered and not yet acknowledged, across all
	// the instances that share a durable consumer.
	DefaultMaxAckPending = 1024
)

// StreamConfig describes a JetStream stream owned by the app. Storage is always file.
type StreamConfig struct {
	// Name of the stream: letters, digits, '-' and '_' (NATS rejects dots in stream names).
	Name string
	// Subjects captured by the stream (one per topic here).
	Subjects []string
	// Duplicates is the deduplication window for Nats-Msg-Id (DefaultDuplicateWindow if 0).
	Duplicates time.Duration
	// MaxAge drops messages older than this (0 keeps them until limits say otherwise).
	MaxAge time.Duration
	// Replicas in a cluster (1 if 0). The embedded server has one node.
	Replicas int
	// Description is shown by `nats stream info`.
	Description string
	// AsyncPersist acknowledges a message once the server holds it in memory and writes
	// it to disk shortly after (JetStream's persist_mode async), even on a server that
	// runs with SyncAlways: much faster, but a crash of the server loses what it
	// acknowledged and had not written yet. Only for a stream whose messages have
	// another durable copy to publish again from.
	AsyncPersist bool
	// AtomicBatches lets publishers store several messages at once, all or none
	// (Publisher.PublishBatch; JetStream 2.12's allow_atomic). JetStream takes no atomic
	// batch on a stream with AsyncPersist, which wins.
	AtomicBatches bool
}

// ConsumerConfig tunes a durable pull consumer. Zero values take the defaults.
type ConsumerConfig struct {
	// AckWait before an unacknowledged message is delivered again (DefaultAckWait).
	AckWait time.Duration
	// MaxAckPending across all instances (DefaultMaxAckPending).
	MaxAckPending int
	// Description is shown by `nats consumer info`.
	Description string
}

// StreamName turns a topic into a valid stream name: upper case, with every character
// other than letters, digits, '-' and '_' replaced by '_' ("order-events" → "ORDER-EVENTS").
func StreamName(topic string) string { return strings.ToUpper(sanitizeName(topic)) }

// ConsumerName turns a consumer group (for example a Watermill handler name) into a valid
// durable consumer name: characters other than letters, digits, '-' and '_' become '_'.
func ConsumerName(group string) string { return sanitizeName(group) }

// Subject is the NATS subject a topic's messages are published on: the topic itself.
func Subject(topic string) string { return topic }

func sanitizeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		default:
			return '_'
		}
	}, s)
}

// StreamConfigFor is the stream the app uses for a topic: named StreamName(topic), holding
// the single subject Subject(topic), with the default duplicate window, taking atomic
// batches (the relay publishes the change log in batches, one fsync each).
func StreamConfigFor(topic string) StreamConfig {
	return StreamConfig{
		Name:          StreamName(topic),
		Subjects:      []string{Subject(topic)},
		Duplicates:    DefaultDuplicateWindow,
		Description:   "staircase topic " + topic,
		AtomicBatches: true,
	}
}

func (c StreamConfig) jetstream() jetstream.StreamConfig {
	dup := c.Duplicates
	if dup <= 0 {
		dup = DefaultDuplicateWindow
	}
	if c.MaxAge > 0 && dup > c.MaxAge {
		dup = c.MaxAge // JetStream rejects a duplicate window longer than MaxAge
	}
	replicas := c.Replicas
	if replicas <= 0 {
		replicas = 1
	}
	persist := jetstream.DefaultPersistMode
	if c.AsyncPersist {
		persist = jetstream.AsyncPersistMode
	}
	return jetstream.StreamConfig{
		PersistMode:        persist,
		AllowAtomicPublish: c.AtomicBatches && !c.AsyncPersist, // JetStream refuses both at once
		Name:               c.Name,
		Description:        c.Description,
		Subjects:           c.Subjects,
		Retention:          jetstream.LimitsPolicy,
		Storage:            jetstream.FileStorage,
		Replicas:           replicas,
		MaxAge:             c.MaxAge,
		Duplicates:         dup,
		Discard:            jetstream.DiscardOld,
	}
}

// EnsureStream creates the stream, or updates an existing one whose settings differ from
// cfg (subjects, duplicate window, age, …; storage and retention cannot change). It is
// idempotent and safe to call from several instances at once.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (jetstream.Stream, error) {
	if cfg.Name == "" || strings.ContainsAny(cfg.Name, ".*> \t/\\") {
		return nil, fmt.Errorf("invalid stream name %q (no dots, wildcards or spaces)", cfg.Name)
	}
	if len(cfg.Subjects) == 0 {
		return nil, fmt.Errorf("stream %s: no subjects", cfg.Name)
	}
	if !atomicBatchesServed(js.Conn()) {
		// Servers before 2.12 ignore both settings and would never report them back.
		cfg.AtomicBatches, cfg.AsyncPersist = false, false
	}
	want := cfg.jetstream()
	st, err := js.Stream(ctx, cfg.Name)
	switch {
	case err == nil:
		if sameStreamConfig(st.CachedInfo().Config, want) {
			return st, nil // no update: subscribers call this often
		}
		st, err = js.UpdateStream(ctx, want)
		if err != nil {
			return nil, fmt.Errorf("update stream %s: %w", cfg.Name, err)
		}
		return st, nil
	case errors.Is(err, jetstream.ErrStreamNotFound):
		// Identical concurrent creations are accepted by the server. A
		// server error creating the stream's store (seen on nats-server
		// 2.9 when another stream's directory goes at the same moment) is
		// tried again.
		for attempt := 1; ; attempt++ {
			st, err = js.CreateStream(ctx, want)
			if err == nil {
				return st, nil
			}
			var apiErr *jetstream.APIError
			if !errors.As(err, &apiErr) || apiErr.Code != 500 || attempt == 5 {
				return nil, fmt.Errorf("create stream %s: %w", cfg.Name, err)
			}
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("create stream %s: %w", cfg.Name, errors.Join(err, ctx.Err()))
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			}
		}
	default:
		return nil, fmt.Errorf("look up stream %s: %w", cfg.Name, err)
	}
}

// atomicBatchesServed tells whether the server nc is connected to takes atomic batches
// and per-stream persist modes (nats-server 2.12 and later).
func atomicBatchesServed(nc *nats.Conn) bool {
	if nc == nil {
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(nc.ConnectedServerVersion(), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 2 || major == 2 && minor >= 12
}

func sameStreamConfig(have, want jetstream.StreamConfig) bool {
	return slices.Equal(have.Subjects, want.Subjects) &&
		have.Duplicates == want.Duplicates &&
		have.MaxAge == want.MaxAge &&
		have.Replicas == want.Replicas &&
		have.Storage == want.Storage &&
		have.Retention == want.Retention &&
		have.Discard == want.Discard &&
		have.PersistMode == want.PersistMode &&
		have.AllowAtomicPublish == want.AllowAtomicPublish &&
		have.Description == want.Description
}

// durableConfig is the app's durable pull consumer: explicit acks, every message of the
// stream on first creation, unlimited redeliveries (retries and the poison queue are
// Watermill middleware; JetStream must never drop a message on its own).
func durableConfig(durable string, cfg ConsumerConfig) jetstream.ConsumerConfig {
	ackWait := cfg.AckWait
	if ackWait <= 0 {
		ackWait = DefaultAckWait
	}
	maxAckPending := cfg.MaxAckPending
	if maxAckPending <= 0 {
		maxAckPending = DefaultMaxAckPending
	}
	return jetstream.ConsumerConfig{
		Durable:       durable,
		Description:   cfg.Description,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		MaxAckPending: maxAckPending,
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
		// No InactiveThreshold: a durable consumer lives until the app deletes it, so it
		// keeps its position while no instance runs.
	}
}

// EnsureConsumer creates the durable pull consumer on stream, or updates the tunable
// settings (AckWait, MaxAckPending) of an existing one, keeping its position and its
// deliver policy. All instances of the app bind to it, and share its messages.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, stream, durable string, cfg ConsumerConfig) (jetstream.Consumer, error) {
	if durable == "" || durable != ConsumerName(durable) {
		return nil, fmt.Errorf("invalid durable consumer name %q (use ConsumerName)", durable)
	}
	want := durableConfig(durable, cfg)

	existing, err := js.Consumer(ctx, stream, durable)
	switch {
	case err == nil:
		have := existing.CachedInfo().Config
		if have.DeliverSubject != "" {
			return nil, fmt.Errorf("consumer %s on stream %s is a push consumer; delete it so that it is re-created as a pull consumer", durable, stream)
		}
		if have.AckWait == want.AckWait && have.MaxAckPending == want.MaxAckPending && have.MaxDeliver == want.MaxDeliver && have.AckPolicy == want.AckPolicy {
			return existing, nil
		}
		// The deliver policy and start point cannot change: keep the existing ones.
		want.DeliverPolicy = have.DeliverPolicy
		want.OptStartSeq = have.OptStartSeq
		want.OptStartTime = have.OptStartTime
		want.FilterSubject = have.FilterSubject
		want.FilterSubjects = have.FilterSubjects
		c, err := js.UpdateConsumer(ctx, stream, want)
		if err != nil {
			return nil, fmt.Errorf("update consumer %s on stream %s: %w", durable, stream, err)
		}
		return c, nil
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		// Identical concurrent creations are accepted by the server.
		c, err := js.CreateConsumer(ctx, stream, want)
		if err != nil {
			return nil, fmt.Errorf("create consumer %s on stream %s: %w", durable, stream, err)
		}
		return c, nil
	default:
		return nil, fmt.Errorf("look up consumer %s on stream %s: %w", durable, stream, err)
	}
}
