package messaging

// StreamsWithReplicas is a StreamFor (PublisherConfig, SubscriberConfig)
// that gives each topic its usual stream, kept in n copies by a NATS
// cluster: a stream at R3 survives the loss of one node. n of 1 or less is
// one copy, what a single server (the embedded one) holds.
func StreamsWithReplicas(n int) func(topic string) StreamConfig {
	return func(topic string) StreamConfig {
		st := streamFor(topic)
		st.Replicas = max(n, 1)
		return st
	}
}
