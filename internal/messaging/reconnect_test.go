package messaging

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// TestSurvivesServerRestart stops the server under a running publisher and subscriber
// (a blip), starts it again on the same port and store, and checks that the same
// connection, publisher and subscription carry on.
func TestSurvivesServerRestart(t *testing.T) {
	dir := t.TempDir()
	e, err := StartEmbedded(context.Background(), onPort(dir, "127.0.0.1:0"), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(e.URL())

	nc, err := Connect(e.URL()) // the app's options: reconnect forever
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pub, err := NewPublisher(nc, PublisherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := NewSubscriber(nc, SubscriberConfig{ConsumerGroup: ProjectorGroup})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ch, err := sub.Subscribe(context.Background(), EventsTopic)
	if err != nil {
		t.Fatal(err)
	}
	before := publishN(t, pub, EventsTopic, 5)
	for _, id := range before {
		m := receive(t, ch, 10*time.Second)
		if m.UUID != id {
			t.Fatalf("got %s, want %s", m.UUID, id)
		}
		m.Ack()
	}

	e.Shutdown()
	if err := pub.Publish(EventsTopic, message.NewMessage(watermill.NewUUID(), nil)); err == nil {
		t.Fatal("publish succeeded while the server was down")
	}
	time.Sleep(500 * time.Millisecond)
	e2, err := StartEmbedded(context.Background(), onPort(dir, u.Host), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Shutdown()

	// Publishing works again once the connection is back.
	var after []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		id := watermill.NewUUID()
		if err := pub.Publish(EventsTopic, message.NewMessage(id, nil)); err == nil {
			after = append(after, id)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cannot publish after the restart")
		}
		time.Sleep(200 * time.Millisecond)
	}
	after = append(after, publishN(t, pub, EventsTopic, 4)...)
	for _, id := range after {
		m := receive(t, ch, 30*time.Second)
		if m.UUID != id {
			t.Fatalf("after restart: got %s, want %s", m.UUID, id)
		}
		m.Ack()
	}
}
