package stageview

// The stages lay their diagrams out on one grid in a 960-wide space, so
// that switching stages moves as little as possible: three columns (write
// side, middle, read side) and rows of boxes, top to bottom from the
// browser to the databases.
const (
	diagramWidth = 960
	boxH         = 66
	rowPitch     = 114
	topMargin    = 20
)

// Column is a column of the grid.
type Column struct{ X, W int }

// Mid is the column's middle.
func (c Column) Mid() int { return c.X + c.W/2 }

// The columns of the grid.
var (
	Left   = Column{20, 270}
	Middle = Column{345, 270}
	Right  = Column{670, 270}
	Full   = Column{20, 920}
	Center = Column{290, 380}
)

func rowY(r int) int { return topMargin + r*rowPitch }

// Drawing lays out a Diagram on the grid.
type Drawing struct {
	d     Diagram
	flows map[string][]string
	// Flows, when set, are the live flows of the arrows drawn next,
	// instead of those their kind gives (FlowCommand for a command,
	// FlowQuery for a query, both for a mixed one).
	Flows []string
}

// NewDrawing starts a diagram whose boxes carry the live flows given by
// component.
func NewDrawing(flows map[string][]string) *Drawing {
	return &Drawing{d: Diagram{Width: diagramWidth}, flows: flows}
}

// Diagram returns the drawing with desc as its description.
func (b *Drawing) Diagram(desc string) Diagram {
	d := b.d
	d.Desc = desc
	return d
}

// Box adds a box in column c and row r; lines are its name and up to two
// lines of detail.
func (b *Drawing) Box(component, kind string, c Column, r int, lines ...string) Box {
	bx := Box{Component: component, Kind: kind, X: c.X, Y: rowY(r), W: c.W, H: boxH, Flows: b.flows[component]}
	sub := len(lines) - 1
	top := bx.Y + (boxH-(17+16*sub))/2
	if kind == "db" {
		top += 4 // below the cylinder's rim
	}
	y := top + 13
	for i, l := range lines {
		bx.Text = append(bx.Text, Text{X: c.Mid(), Y: y, Text: l})
		if i == 0 {
			y += 18
		} else {
			y += 15
		}
	}
	b.d.Boxes = append(b.d.Boxes, bx)
	if end := bx.Y + bx.H + topMargin; end > b.d.Height {
		b.d.Height = end
	}
	return bx
}

// Dashed draws bx's outline dashed.
func (b *Drawing) Dashed(bx Box) {
	for i := range b.d.Boxes {
		if b.d.Boxes[i].Component == bx.Component {
			b.d.Boxes[i].Dashed = true
		}
	}
}

// Down draws an arrow at x from the bottom of from to the top of to, with
// its label to the right of the line.
func (b *Drawing) Down(kind string, x int, from, to Box, label string) {
	y1, y2 := from.Y+from.H, to.Y-2
	b.Arrow(Arrow{Kind: kind, Points: line(x, y1, x, y2), Label: label, LabelX: x + 9, LabelY: (y1+y2)/2 + 4, LabelAnchor: "start"})
}

// Up draws an arrow at x from the top of from to the bottom of to.
func (b *Drawing) Up(kind string, x int, from, to Box, label string) {
	y1, y2 := from.Y, to.Y+to.H+2
	b.Arrow(Arrow{Kind: kind, Points: line(x, y1, x, y2), Label: label, LabelX: x + 9, LabelY: (y1+y2)/2 + 4, LabelAnchor: "start"})
}

// Across draws a horizontal arrow at height y between two boxes side by
// side, with its label above the line.
func (b *Drawing) Across(kind string, y int, from, to Box, label string, dashed bool) {
	x1, x2 := from.X+from.W, to.X-2
	if to.X < from.X {
		x1, x2 = from.X, to.X+to.W+2
	}
	b.Arrow(Arrow{Kind: kind, Points: line(x1, y, x2, y), Dashed: dashed, Label: label, LabelX: (x1 + x2) / 2, LabelY: y - 8, LabelAnchor: "middle"})
}

// Elbow draws an arrow down from the bottom of from at x, then sideways
// into the side of to at its middle height.
func (b *Drawing) Elbow(kind string, x int, from, to Box, label string) {
	y1, ym := from.Y+from.H, to.Y+to.H/2
	x2 := to.X - 2
	if x > to.X+to.W {
		x2 = to.X + to.W + 2
	}
	b.Arrow(Arrow{Kind: kind, Points: []Point{{X: x, Y: y1}, {X: x, Y: ym}, {X: x2, Y: ym}}, Label: label, LabelX: x + 9, LabelY: y1 + 24, LabelAnchor: "start"})
}

// Arrow adds a, with the flows of the drawing (Flows) or of its kind
// unless it has its own.
func (b *Drawing) Arrow(a Arrow) {
	if a.Flows == nil {
		a.Flows = b.Flows
	}
	if a.Flows == nil {
		a.Flows = kindFlows(a.Kind)
	}
	b.d.Arrows = append(b.d.Arrows, a)
}

func kindFlows(kind string) []string {
	switch kind {
	case "command":
		return []string{FlowCommand}
	case "query":
		return []string{FlowQuery}
	case "mixed":
		return []string{FlowCommand, FlowQuery}
	}
	return nil
}

func line(x1, y1, x2, y2 int) []Point { return []Point{{X: x1, Y: y1}, {X: x2, Y: y2}} }

// MidY is the height of bx's middle.
func MidY(bx Box) int { return bx.Y + bx.H/2 }
