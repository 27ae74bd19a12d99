// Package messaging is Staircase's message bus: NATS JetStream reached through Watermill.
//
// Stage 3 sends events (the event bus) and, optionally, commands (the command bus) through
// Watermill's cqrs package. Watermill gives the router, retries and the poison queue; NATS
// JetStream gives durable, replicated streams that several app instances can share. This
// package owns the parts that glue the two together and that the watermill-nats adapter
// leaves to the application:
//
//   - an embedded nats-server with JetStream on disk (StartEmbedded), so `staircase serve`
//     needs no broker; with SyncAlways on, because JetStream's default lazy fsync loses
//     acknowledged messages on a crash. In the scaled-out setup the same code talks to an
//     external NATS cluster by URL (Connect).
//   - stream and durable consumer provisioning (EnsureStream, EnsureConsumer, Provision).
//     A durable consumer that the Watermill subscriber creates itself is deleted when it
//     closes, so after a restart everything would be redelivered. The app creates the
//     consumers and the subscriber only binds to them, so a restart resumes where the
//     consumer group left off.
//   - a Watermill Publisher that sets Nats-Msg-Id to the Watermill message UUID, so that
//     JetStream drops a re-published copy inside the stream's duplicate window (the outbox
//     forwarder may publish a message twice after a crash), and a Watermill Subscriber that
//     acknowledges a message to JetStream only after the handler acked it (at least once),
//     or, for a handler that took the ack over (DeferAck), once the handler settles it.
//
// Consumers are pull consumers: every app instance pulls from the same durable consumer,
// so the work is shared without deliver groups, and a slow instance does not hog messages.
// Delivery is at least once: handlers must be idempotent (stage 3 projections are, by
// version).
//
// The Publisher is watermill-nats' (pkg/nats in JetStream mode, TrackMsgId). The Subscriber
// reads watermill-nats' wire format but runs its own receiving loop on nats.go's pull
// iterator: watermill-nats v2.1.3's jetstream.Subscriber panics now and then when a
// subscription ends (see Subscriber), and its pkg/nats subscriber only offers push
// consumers. Together they pass Watermill's universal Pub/Sub test suite (pubsub_test.go),
// on the embedded server and on an external one.
package messaging
