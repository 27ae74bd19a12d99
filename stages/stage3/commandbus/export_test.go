package commandbus

import "github.com/ThreeDotsLabs/watermill/message"

// What the tests of the bus, which run a whole stage 3, need of its
// insides.

type BusCommand = busCommand

type ProcessedRow = processedRow

var CommandMarshaler = commandMarshaler

const (
	TypePlace       = typePlace
	TypeChangeLines = typeChangeLines
	TypeShip        = typeShip
	TypeCancel      = typeCancel
	TypeGroup       = typeGroup
)

// NewGroupPublisher groups the publishes to pub, as the bus does.
func NewGroupPublisher(pub message.Publisher) interface {
	Publish(topic string, msgs ...*message.Message) error
	Close() error
} {
	return newGroupPublisher(pub)
}

// PackGroup puts command messages into one group message, as the bus
// stores the commands of concurrent requests.
func PackGroup(msgs []*message.Message) (*message.Message, error) { return packGroup(msgs) }

// Unpack returns the commands a group message carries, or m itself.
func Unpack(m *message.Message) ([]*message.Message, error) {
	var c busCommand
	if err := commandMarshaler.Unmarshal(m, &c); err != nil {
		return nil, err
	}
	if c.Type != typeGroup {
		return []*message.Message{m}, nil
	}
	return c.unpack(), nil
}

// FailBeforeCommit has the bus run f just before each group's transaction
// commits; an error from f rolls the group back.
func FailBeforeCommit(b *Bus, f func() error) { b.beforeCommit = f }
