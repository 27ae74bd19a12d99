package web

// EventsView is the event viewer: the active stage's change log, newest first, with the state
// of the log's relay and of the bus, or, in a stage without a change log, why there is none.
type EventsView struct {
	// Stage is the active stage; HasLog tells whether it keeps a change log. Without one the
	// page says so, and offers to switch to LogStage, the stage that keeps one (-1: none).
	Stage    int
	HasLog   bool
	LogStage int
	// CSRFToken is for the switch form.
	CSRFToken string
	// OrderID and Type are the filters as typed; Types the type filter's options.
	OrderID, Type string
	Types         []Option
	// Errors are the filters' field errors, by field ("order", "type", "before").
	Errors map[string]string
	Events []EventItem
	// NextURL is the page of older events; FirstURL the newest page; empty when there is none.
	NextURL, FirstURL string
	State             EventLogStateView
	// CatalogURL links the event catalog.
	CatalogURL string
	// APIURL is the same page as JSON.
	APIURL string
}

// EventItem is one event of the viewer.
type EventItem struct {
	Seq, EventID string
	Type         string
	// OrderID is the full ID, OrderShort its short form, OrderURL its page and FilterURL the
	// viewer filtered to it.
	OrderID, OrderShort, OrderURL, FilterURL string
	Version                                  int
	// Schema is the version recorded; Current the code's. Upcast is the payload as read, for
	// an older schema (empty otherwise), beside Stored, the payload as recorded.
	Schema, Current int
	Stored, Upcast  string
	Unreadable      string
	// Time is when it was recorded (UTC); Ago how long ago.
	Time, Ago string
	// Published tells whether the relay published it.
	Published bool
	// Projection is projected, pending, parked or held; ProjectionText says it for a reader.
	Projection, ProjectionText string
}

// EventLogStateView is where the change log and its readers are.
type EventLogStateView struct {
	Head, RelayPosition, Unpublished string
	// Behind tells whether the relay has events to publish.
	Behind  bool
	Streams []BusStreamView
}

// BusStreamView is a stream of the bus as the viewer shows it.
type BusStreamView struct {
	Name, Topic, Err                   string
	Messages, Bytes, FirstSeq, LastSeq string
	Consumers                          []BusConsumerView
}

// BusConsumerView is a durable consumer of a stream.
type BusConsumerView struct {
	Name, Err                                             string
	Delivered, AckFloor, Pending, AckPending, Redelivered string
	// Waiting tells whether messages wait for it (pending or unacknowledged).
	Waiting bool
}

// EventCatalogView is the event catalog: the envelope and every event type's schema versions.
type EventCatalogView struct {
	Envelope []CatalogFieldView
	Types    []CatalogTypeView
	// APIURL is the catalog as JSON.
	APIURL string
}

// CatalogTypeView is one event type.
type CatalogTypeView struct {
	Name, Meaning, Anchor string
	Current               int
	Schemas               []CatalogSchemaView
	// EventsURL is the event viewer filtered to the type.
	EventsURL string
}

// CatalogSchemaView is one schema version of a type.
type CatalogSchemaView struct {
	Version int
	Current bool
	Fields  []CatalogFieldView
	// Example is an example payload; Upcast, for an older version, the same as read, and
	// UpcastNote how.
	Example, Upcast, UpcastNote string
}

// CatalogFieldView is one field.
type CatalogFieldView struct {
	Name, Type, Meaning string
}

// LagGraph is the architecture page's lag graph: the read side's lag and what waits where,
// over the last few minutes, drawn as two small SVG charts.
type LagGraph struct {
	// Window says the time span, e.g. "5 min"; Samples how many there are.
	Window  string
	Samples int
	Lag     Chart
	Backlog Chart
}

// Chart is one line chart in a Width×Height space, laid out by the server.
type Chart struct {
	Key, Title, Desc string
	Width, Height    int
	// PlotX, PlotY, PlotW, PlotH place the plot area.
	PlotX, PlotY, PlotW, PlotH int
	// Max is the top of the y axis, as written (e.g. "10 s"); MaxValue as a number.
	Max      string
	MaxValue float64
	YTicks   []ChartTick
	XTicks   []ChartTick
	Series   []ChartSeries
}

// ChartTick is a grid line with its label.
type ChartTick struct {
	Pos   int
	Label string
}

// ChartSeries is one line: a polyline per stretch of known values.
type ChartSeries struct {
	Key, Label string
	Lines      []string
	// Last is the newest value as written ("—" when not known); LastValue as a number (-1: not
	// known); Peak the highest value in the window.
	Last      string
	LastValue float64
	Peak      float64
}
