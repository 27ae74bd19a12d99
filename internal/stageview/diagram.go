package stageview

// Diagram is a box-and-arrow drawing of a stage's architecture in a
// Width×Height space: components as boxes, the calls between them as
// arrows, commands, queries and events apart.
type Diagram struct {
	Width, Height int
	// Desc tells the flow in words, for those who do not see the drawing.
	Desc   string
	Boxes  []Box
	Arrows []Arrow
}

// Box is one component.
type Box struct {
	// Component names the box for tests and styling, e.g. "event-bus".
	Component string
	// Kind picks the colours: "ui", "api", "model", "db", "bus" or
	// "worker". A "db" box is drawn as a cylinder.
	Kind       string
	X, Y, W, H int
	// Dashed draws the outline dashed: an optional component.
	Dashed bool
	// Flows are the live flows through the box (Description.Flows).
	Flows []string
	// Text is the box's lines; the first is the name.
	Text []Text
}

// Text is one line of text, centred on X with its baseline at Y.
type Text struct {
	X, Y int
	Text string
}

// Arrow is a line through Points ending in an arrowhead, with an optional
// label.
type Arrow struct {
	// Kind picks the colour: "command", "query", "event" or "mixed" (reads
	// and writes at once).
	Kind   string
	Points []Point
	// Dashed draws an optional path, e.g. the command bus.
	Dashed bool
	// Flows are the live flows the arrow carries.
	Flows []string
	Label string
	// LabelX and LabelY place the label's baseline; LabelAnchor is
	// "start", "middle" or "end".
	LabelX, LabelY int
	LabelAnchor    string
}

// Point is a point of an arrow.
type Point struct{ X, Y int }
