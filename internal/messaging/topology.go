package messaging

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// The topics of stage 3 and the durable consumer groups reading them.
const (
	// EventsTopic is the event bus: every change of the write model (OrderPlaced, …),
	// forwarded from the outbox.
	EventsTopic = "order-events"
	// CommandsTopic is the command bus (command-bus=async): PlaceOrder, ShipOrder, …
	CommandsTopic = "order-commands"

	// ProjectorGroup is the durable consumer of EventsTopic that updates the read database.
	ProjectorGroup = "projector"
	// CommandHandlerGroup is the durable consumer of CommandsTopic that applies commands
	// to the write model.
	CommandHandlerGroup = "command-handler"
)

// TopicSpec is one topic of the topology: its stream and its durable consumers.
type TopicSpec struct {
	Topic     string
	Stream    StreamConfig
	Consumers []string // durable consumer names (consumer groups)
}

// Topology is the app's messaging topology: its streams and their durable consumers.
var Topology = []TopicSpec{
	{Topic: EventsTopic, Stream: StreamConfigFor(EventsTopic), Consumers: []string{ProjectorGroup}},
	{Topic: CommandsTopic, Stream: StreamConfigFor(CommandsTopic), Consumers: []string{CommandHandlerGroup}},
}

// Provision ensures every stream and durable consumer of topology (Topology if nil) with
// cfg, all at once; it is idempotent. The app does not call it: its Publisher ensures a
// topic's stream before the first publish to it, and each Subscriber its stream and
// durable consumer (with the subscriber's own consumer config) before it binds, which is
// what stage 3's relay, projector and command handler do when they start. Provision is
// for tests and tools that need the consumers in place before anything runs.
func Provision(ctx context.Context, js jetstream.JetStream, topology []TopicSpec, cfg ConsumerConfig) error {
	if topology == nil {
		topology = Topology
	}
	for _, t := range topology {
		st := t.Stream
		if st.Name == "" {
			st = StreamConfigFor(t.Topic)
		}
		if _, err := EnsureStream(ctx, js, st); err != nil {
			return fmt.Errorf("provision topic %s: %w", t.Topic, err)
		}
		for _, group := range t.Consumers {
			if _, err := EnsureConsumer(ctx, js, st.Name, ConsumerName(group), cfg); err != nil {
				return fmt.Errorf("provision topic %s: %w", t.Topic, err)
			}
		}
	}
	return nil
}

// streamFor is the stream config of topic: from topology when listed, else StreamConfigFor.
func streamFor(topic string) StreamConfig {
	for _, t := range Topology {
		if t.Topic == topic && t.Stream.Name != "" {
			return t.Stream
		}
	}
	return StreamConfigFor(topic)
}
