package commandbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/staircase/staircase/internal/messaging"
)

// The command stream has no other durable copy of a command: a command is
// acknowledged (202) only once JetStream has stored it, fsynced on a
// server with SyncAlways. One publish awaited per request tops out at the
// disk's fsyncs per second, so the commands of requests that arrive
// together are stored together: groupPublisher collects what the requests
// waiting meanwhile want published and sends it as asynchronous publishes
// whose acks are all awaited (the server's writes overlap the round
// trips), or, for a large group on a server that takes them, as one atomic
// batch (one fsync for the lot). Each request still
// returns only when its own messages are stored, so a kill -9 loses
// nothing that was acknowledged.

// batchPublisher is what groupPublisher needs of the bus's publisher
// (messaging.Publisher).
type batchPublisher interface {
	message.Publisher
	PublishBatch(ctx context.Context, topic string, ms []*message.Message) error
	PublishAsync(topic string, m *message.Message) (jetstream.PubAckFuture, error)
}

// defaultBatchFrom is the smallest group sent as an atomic batch. JetStream takes
// some milliseconds to commit a batch whatever its size (measured on the
// embedded server: a group of 4 commands stored as a batch, ~300
// commands/s from 8 clients, against ~1,000/s as asynchronous publishes
// and ~800/s one publish at a time), so only a large group gains from it.
const defaultBatchFrom = 64

// groupAckWait bounds the wait for the acks of a group sent without a
// batch.
const groupAckWait = 10 * time.Second

// errGroupClosed is the error of a publish after Close.
var errGroupClosed = errors.New("the command publisher is closed")

// groupPublisher is a message.Publisher that stores concurrent publishes
// in groups. Only Publish groups; Close stops it (the wrapped publisher
// stays its owner's).
type groupPublisher struct {
	pub  batchPublisher
	reqs chan *groupReq
	done chan struct{}
	// stopped is closed when the loop has ended.
	stopped chan struct{}
	once    sync.Once
	// batches is false once the stream took no atomic batch; batchFrom
	// is the smallest group sent as one.
	batches   bool
	batchFrom int
}

// groupReq is one Publish call waiting for its messages to be stored.
type groupReq struct {
	topic string
	msgs  []*message.Message
	err   chan error
}

// newGroupPublisher starts grouping publishes to pub.
func newGroupPublisher(pub batchPublisher, batchFrom int) *groupPublisher {
	g := &groupPublisher{pub: pub, reqs: make(chan *groupReq), done: make(chan struct{}), stopped: make(chan struct{}),
		batches: true, batchFrom: batchFrom}
	go g.run()
	return g
}

// Publish stores msgs on topic and returns once they are stored.
func (g *groupPublisher) Publish(topic string, msgs ...*message.Message) error {
	r := &groupReq{topic: topic, msgs: msgs, err: make(chan error, 1)}
	select {
	case g.reqs <- r:
	case <-g.done:
		return errGroupClosed
	}
	return <-r.err
}

// Close stops grouping; publishes after it fail.
func (g *groupPublisher) Close() error {
	g.once.Do(func() { close(g.done) })
	<-g.stopped
	return nil
}

// run takes a request, then every other one already waiting for the same
// topic (up to a batch's worth), and stores them together; requests that
// come while a group is being stored wait for the next group.
func (g *groupPublisher) run() {
	defer close(g.stopped)
	var carry *groupReq
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-g.reqs:
			case <-g.done:
				return
			}
		}
		group, n := []*groupReq{first}, len(first.msgs)
	gather:
		for n < messaging.MaxBatch {
			select {
			case r := <-g.reqs:
				if r.topic != first.topic || n+len(r.msgs) > messaging.MaxBatch {
					carry = r
					break gather
				}
				group, n = append(group, r), n+len(r.msgs)
			default:
				break gather
			}
		}
		g.store(first.topic, group, n)
	}
}

// store publishes a group and answers each of its requests.
func (g *groupPublisher) store(topic string, group []*groupReq, n int) {
	if n <= 1 || len(group) == 1 {
		r := group[0]
		r.err <- g.pub.Publish(topic, r.msgs...)
		return
	}
	msgs := make([]*message.Message, 0, n)
	for _, r := range group {
		msgs = append(msgs, r.msgs...)
	}
	if g.batches && n >= g.batchFrom {
		err := g.pub.PublishBatch(context.Background(), topic, msgs)
		switch {
		case err == nil:
			for _, r := range group {
				r.err <- nil
			}
			return
		case errors.Is(err, messaging.ErrBatchDisabled):
			g.batches = false
		default:
			// Refused as a whole (say, one message was stored before):
			// each request on its own gets its own answer.
			for _, r := range group {
				r.err <- g.pub.Publish(topic, r.msgs...)
			}
			return
		}
	}
	g.storeAsync(topic, group)
}

// storeAsync sends every message of the group without waiting, then
// awaits all their acks: JetStream stores them in order and the round
// trips overlap.
func (g *groupPublisher) storeAsync(topic string, group []*groupReq) {
	futures := make([][]jetstream.PubAckFuture, len(group))
	errs := make([]error, len(group))
	for i, r := range group {
		for _, m := range r.msgs {
			f, err := g.pub.PublishAsync(topic, m)
			if err != nil {
				errs[i] = err
				break
			}
			futures[i] = append(futures[i], f)
		}
	}
	timeout := time.After(groupAckWait)
	for i, fs := range futures {
		for _, f := range fs {
			if errs[i] != nil {
				break
			}
			select {
			case <-f.Ok():
			case err := <-f.Err():
				errs[i] = err
			case <-timeout:
				errs[i] = fmt.Errorf("no ack from the bus within %s", groupAckWait)
			}
		}
	}
	for i, r := range group {
		r.err <- errs[i]
	}
}
