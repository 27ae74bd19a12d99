package stage3

import (
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/changelog"
)

// Metadata keys of the event messages, so that tools can see what a message
// is without decoding it.
const (
	metaOrderID = "order_id"
	metaVersion = "order_version"
	metaType    = "type"
)

// eventMessage wraps an event for the bus; the message UUID is the event
// ID, which the bus uses to drop copies.
func eventMessage(e order.Event) (*message.Message, error) {
	payload, err := changelog.Marshal(e)
	if err != nil {
		return nil, err
	}
	m := message.NewMessage(e.ID.String(), payload)
	m.Metadata.Set(metaOrderID, e.OrderID.String())
	m.Metadata.Set(metaVersion, strconv.Itoa(e.OrderVersion))
	m.Metadata.Set(metaType, e.Type)
	return m, nil
}
