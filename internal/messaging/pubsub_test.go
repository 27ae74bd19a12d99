package messaging

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
)

// features describe the adapter truthfully:
//   - ConsumerGroups: subscribers with the same ConsumerGroup share a durable consumer.
//   - ExactlyOnceDelivery false: delivery is at least once (a message whose ack is lost, or
//     not given within AckWait, comes again).
//   - GuaranteedOrder: one subscription receives a stream in order, one message at a time
//     (the next comes after the ack). Across several instances of a group, or after a nack,
//     order is not kept: stage 3 handlers order by version instead.
//   - Persistent, NewSubscriberReceivesOldMessages: streams keep messages; a subscriber
//     without a group reads the stream from its start.
//   - ForceShort unless STAIRCASE_TEST_NATS_FULL is set: the long variants (10 000
//     messages; 50 subscribers × 5 000 messages) pass but take about a minute each on two
//     cores with SyncAlways, and come close to the suite's fixed 45 s read timeout there.
//   - RestartServiceCommand is empty, so the suite's TestReconnect is skipped (it reports
//     the skip); TestDurableConsumerSurvivesRestart restarts the embedded server instead.
func features(topicPrefix string) tests.Features {
	return tests.Features{
		ConsumerGroups:                      true,
		ExactlyOnceDelivery:                 false,
		GuaranteedOrder:                     true,
		GuaranteedOrderWithSingleSubscriber: true,
		Persistent:                          true,
		NewSubscriberReceivesOldMessages:    true,
		RequireSingleInstance:               false,
		ForceShort:                          os.Getenv("STAIRCASE_TEST_NATS_FULL") == "",
		GenerateTopicFunc: func(tctx tests.TestContext) string {
			return topicPrefix + "-" + string(tctx.TestID)
		},
	}
}

func runUniversalSuite(t *testing.T, url, topicPrefix string) {
	newPubSub := func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
		nc, _ := connect(t, url)
		pub, err := NewPublisher(nc, PublisherConfig{})
		if err != nil {
			t.Fatalf("NewPublisher: %v", err)
		}
		sub, err := NewSubscriber(nc, SubscriberConfig{ConsumerGroup: group})
		if err != nil {
			t.Fatalf("NewSubscriber: %v", err)
		}
		return pub, sub
	}
	tests.TestPubSub(t, features(topicPrefix),
		func(t *testing.T) (message.Publisher, message.Subscriber) { return newPubSub(t, "") },
		newPubSub,
	)
}

// TestUniversalPubSubEmbedded runs Watermill's universal Pub/Sub suite on the embedded server.
func TestUniversalPubSubEmbedded(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	runUniversalSuite(t, e.URL(), "topic")
}

// TestUniversalPubSubExternal runs the suite against the NATS server at
// $STAIRCASE_TEST_NATS (with JetStream), on streams unique to this run, deleted afterwards.
func TestUniversalPubSubExternal(t *testing.T) {
	url := os.Getenv("STAIRCASE_TEST_NATS")
	if url == "" {
		t.Skip("STAIRCASE_TEST_NATS not set (e.g. nats://127.0.0.1:4222)")
	}
	prefix := "stairtest-" + strings.ToLower(watermill.NewShortUUID())
	_, js := connect(t, url)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		names := js.StreamNames(ctx)
		var del []string
		for name := range names.Name() {
			if strings.HasPrefix(name, StreamName(prefix)) {
				del = append(del, name)
			}
		}
		if err := names.Err(); err != nil {
			t.Errorf("list streams: %v", err)
		}
		for _, name := range del {
			if err := js.DeleteStream(ctx, name); err != nil {
				t.Errorf("delete stream %s: %v", name, err)
			}
		}
		t.Logf("deleted %d test streams", len(del))
	})
	runUniversalSuite(t, url, prefix)
}
