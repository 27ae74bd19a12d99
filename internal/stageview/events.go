package stageview

import "time"

// EventQuery asks a stage's change log for one page of events, newest
// first.
type EventQuery struct {
	// OrderID and Type, when set, keep only the events of that order, of
	// that type.
	OrderID, Type string
	// Before, when positive, lists the events recorded before the one with
	// this sequence number: the next page's EventPage.Next.
	Before int64
	// Limit is the page's size.
	Limit int
}

// EventPage is one page of a change log with the state of the log and the
// bus it feeds.
type EventPage struct {
	Events []EventRow
	// Next is EventQuery.Before of the page of older events; 0 on the last
	// page.
	Next  int64
	State EventLogState
}

// EventRow is one event of a change log as the event viewer shows it.
type EventRow struct {
	// Seq is the event's place in the log, in the order it was recorded.
	Seq          int64
	EventID      string
	OrderID      string
	OrderVersion int
	Type         string
	// Schema is the schema version the event was recorded in; Current the
	// one the code writes now.
	Schema, Current int
	OccurredAt      time.Time
	// Stored is the payload as the log holds it; Upcast, for an event of
	// an older schema, the payload as the code reads it (empty otherwise).
	Stored, Upcast string
	// Unreadable says why the code cannot read the event; empty if it can.
	Unreadable string
	// Published tells whether the relay has published the event to the
	// bus (it is at or before the relay's position).
	Published bool
	// Projection is where the event is on the read side: EventProjected,
	// EventPending, EventParked or EventHeld; ReadVersion is the read
	// side's version of the order (0: it has none).
	Projection  string
	ReadVersion int
}

// The projection states of an event.
const (
	// EventProjected: the read side has the order at the event's version
	// or later.
	EventProjected = "projected"
	// EventPending: not yet on the read side.
	EventPending = "pending"
	// EventParked: parked in the error log after its retries.
	EventParked = "parked"
	// EventHeld: held in the error log behind a parked event of its order.
	EventHeld = "held"
)

// EventLogState is where a change log and its readers are.
type EventLogState struct {
	// Head is the sequence number of the newest event recorded (0: none).
	Head int64
	// RelaySeq (and, on PostgreSQL, RelayTx, the transaction id) is the
	// position of the last event the relay published; Unpublished counts
	// the events after it.
	RelaySeq, RelayTx int64
	Unpublished       int64
	// Streams are the bus's streams the stage uses, as the bus reports
	// them.
	Streams []BusStream
}

// BusStream is a stream of the bus, as the bus reports it.
type BusStream struct {
	// Name is the stream's name; Topic the topic it carries.
	Name, Topic string
	// Err says why the bus did not report the stream; empty if it did.
	Err               string
	Messages, Bytes   uint64
	FirstSeq, LastSeq uint64
	Consumers         []BusConsumer
}

// BusConsumer is a durable consumer of a stream, as the bus reports it.
type BusConsumer struct {
	Name string
	// Err says why the bus did not report the consumer; empty if it did.
	Err string
	// Delivered and AckFloor are stream sequence numbers: the last message
	// delivered, and the last one below which every message is
	// acknowledged.
	Delivered, AckFloor uint64
	// Pending are the messages not yet delivered; AckPending delivered and
	// not yet acknowledged; Redelivered delivered more than once and not
	// yet acknowledged.
	Pending                 uint64
	AckPending, Redelivered int
}

// EventCatalog is every event type a stage records, with the fields of
// each schema version, drawn from the code that encodes and decodes them.
type EventCatalog struct {
	// Envelope are the fields around every payload, as the bus carries an
	// event.
	Envelope []CatalogField
	Types    []CatalogType
}

// CatalogType is one event type.
type CatalogType struct {
	Name, Meaning string
	// Current is the schema version the code writes.
	Current int
	// Schemas are the versions the code reads, oldest first.
	Schemas []CatalogSchema
}

// CatalogSchema is one schema version of an event type.
type CatalogSchema struct {
	Version int
	Fields  []CatalogField
	// Example is an example payload (JSON); Upcast, for an older version,
	// the same payload as the code reads it, and UpcastNote how.
	Example, Upcast, UpcastNote string
}

// CatalogField is one field of a payload or of the envelope.
type CatalogField struct {
	// Name is the JSON name, a nested one by its path ("lines[].sku").
	Name, Type, Meaning string
}

// LagSample is what a stage's read side waited for at one instant: the
// lag graph's data.
type LagSample struct {
	At time.Time
	// Lag is the projection's lag in seconds (the age of the oldest event
	// not on the read side yet); LagKnown is false when it could not be
	// told.
	Lag      float64
	LagKnown bool
	// Unpublished are the change log's events the relay has not
	// published; EventsPending and CommandsPending the bus's messages not
	// yet delivered to the projector and the command handler. A value
	// below 0 is not known.
	Unpublished, EventsPending, CommandsPending float64
}
