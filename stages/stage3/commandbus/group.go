package commandbus

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
)

// The command stream has no other durable copy of a command: a command is
// acknowledged (202) only once JetStream has stored it, fsynced on a
// server with SyncAlways. JetStream fsyncs every message it stores, so one
// message per request tops out at the disk's fsyncs per second, and
// neither asynchronous publishes (still one fsync each) nor JetStream's
// atomic batches (which stage each batch in a store of its own, some
// milliseconds whatever its size) get a request past that by much. So
// groupPublisher stores the commands of requests that arrive together as
// one message, a command group: one store, one fsync, for the lot. Each
// request returns only once the group holding its command is stored, so a
// kill -9 loses nothing that was acknowledged; and a group is one message
// to the command handler, which applies its commands in order, in one
// write transaction (Bus.handleGroup).

// Limits of a group: JetStream refuses a message over its max_payload (1
// MiB by default), so a group stops short of it; a request larger than
// that on its own is sent alone.
const (
	maxGroupCommands = 500
	maxGroupBytes    = 256 << 10
)

// errGroupClosed is the error of a publish after Close.
var errGroupClosed = errors.New("the command publisher is closed")

// groupPublisher is a message.Publisher that stores concurrent publishes
// as command groups. Only Publish groups; Close stops it (the wrapped
// publisher stays its owner's).
type groupPublisher struct {
	pub  message.Publisher
	reqs chan *groupReq
	done chan struct{}
	// stopped is closed when the loop has ended.
	stopped chan struct{}
	once    sync.Once
}

// groupReq is one Publish call waiting for its messages to be stored.
type groupReq struct {
	topic string
	msgs  []*message.Message
	size  int
	err   chan error
}

// newGroupPublisher starts grouping publishes to pub.
func newGroupPublisher(pub message.Publisher) *groupPublisher {
	g := &groupPublisher{pub: pub, reqs: make(chan *groupReq), done: make(chan struct{}), stopped: make(chan struct{})}
	go g.run()
	return g
}

// Publish stores msgs on topic and returns once they are stored.
func (g *groupPublisher) Publish(topic string, msgs ...*message.Message) error {
	r := &groupReq{topic: topic, msgs: msgs, err: make(chan error, 1)}
	for _, m := range msgs {
		r.size += len(m.UUID) + len(m.Payload)
		for k, v := range m.Metadata {
			r.size += len(k) + len(v)
		}
	}
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
// topic (up to a group's limits), and stores them together; requests that
// come while a group is being stored wait for the next group. A request
// thus waits for the store in progress, then for its own: sending the next
// group at once instead would not shorten that wait, because JetStream
// stores a stream's messages one at a time, each with its own fsync, so
// the second group would wait inside the server, and groups would be
// smaller, with more fsyncs for the same commands.
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
		group, n, size := []*groupReq{first}, len(first.msgs), first.size
	gather:
		for n < maxGroupCommands {
			select {
			case r := <-g.reqs:
				if r.topic != first.topic || n+len(r.msgs) > maxGroupCommands || size+r.size > maxGroupBytes {
					carry = r
					break gather
				}
				group, n, size = append(group, r), n+len(r.msgs), size+r.size
			default:
				break gather
			}
		}
		g.store(first.topic, group)
	}
}

// store publishes a group and answers each of its requests.
func (g *groupPublisher) store(topic string, group []*groupReq) {
	if len(group) == 1 {
		r := group[0]
		r.err <- g.pub.Publish(topic, r.msgs...)
		return
	}
	var msgs []*message.Message
	for _, r := range group {
		msgs = append(msgs, r.msgs...)
	}
	m, err := packGroup(msgs)
	if err == nil {
		err = g.pub.Publish(topic, m)
	}
	for _, r := range group {
		r.err <- err
	}
}

// groupedCommand is one command of a group as it was sent: its message's
// UUID (the command ID), metadata (the command's type and order, a trace
// context) and payload.
type groupedCommand struct {
	UUID     string            `json:"uuid"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Payload  json.RawMessage   `json:"payload"`
}

// metaGroupSize is the metadata key of a group message that says how many
// commands it carries, for tools that look at the bus.
const metaGroupSize = "command_count"

// packGroup puts command messages, in their order, into one group message
// (a bus command of type CommandGroup).
func packGroup(msgs []*message.Message) (*message.Message, error) {
	cmd := busCommand{Type: typeGroup, Group: make([]groupedCommand, len(msgs))}
	for i, m := range msgs {
		if !json.Valid(m.Payload) {
			return nil, fmt.Errorf("group command %s: its payload is not JSON", m.UUID)
		}
		cmd.Group[i] = groupedCommand{UUID: m.UUID, Metadata: m.Metadata, Payload: json.RawMessage(m.Payload)}
	}
	gm, err := commandMarshaler.Marshal(&cmd)
	if err != nil {
		return nil, fmt.Errorf("group %d commands: %w", len(msgs), err)
	}
	gm.Metadata.Set(metaCommandType, typeGroup)
	gm.Metadata.Set(metaGroupSize, strconv.Itoa(len(msgs)))
	return gm, nil
}

// unpack returns the command messages of a group, in their order.
func (c *busCommand) unpack() []*message.Message {
	msgs := make([]*message.Message, len(c.Group))
	for i, g := range c.Group {
		m := message.NewMessage(g.UUID, []byte(g.Payload))
		for k, v := range g.Metadata {
			m.Metadata.Set(k, v)
		}
		msgs[i] = m
	}
	return msgs
}
