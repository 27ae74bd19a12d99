package stage3

import (
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/changelog"
)

// eventMessage wraps an event for the bus with the metadata recorded with
// it (changelog.WithMetadata); the message UUID is the event ID, which the
// bus uses to drop copies.
func eventMessage(e order.Event, md map[string]string) (*message.Message, error) {
	payload, err := changelog.Marshal(e)
	if err != nil {
		return nil, err
	}
	m := message.NewMessage(e.ID.String(), payload)
	for k, v := range md {
		m.Metadata.Set(k, v)
	}
	m.Metadata.Set(changelog.MetaOrderID, e.OrderID.String())
	m.Metadata.Set(changelog.MetaVersion, strconv.Itoa(e.OrderVersion))
	m.Metadata.Set(changelog.MetaType, e.Type)
	return m, nil
}

// EventMessage wraps an event for the bus exactly as the relay does (the
// message UUID is the event ID; metadata order_id, order_version, type),
// for tools and tests that publish events themselves.
func EventMessage(e order.Event) (*message.Message, error) { return eventMessage(e, nil) }

// EventsTopic is the events topic of the Staircase whose bus namespace is
// namespace.
func EventsTopic(namespace string) string { return namespace + messaging.EventsTopic }
