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
)

// NewGroupPublisher groups the publishes to pub, as the bus does, sending
// groups of batchFrom messages or more as atomic batches.
func NewGroupPublisher(pub batchPublisher, batchFrom int) interface {
	Publish(topic string, msgs ...*message.Message) error
	Close() error
} {
	return newGroupPublisher(pub, batchFrom)
}
