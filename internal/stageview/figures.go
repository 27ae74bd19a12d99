package stageview

// Figures are what a stage reports about itself now, for the live panel
// under its diagram.
type Figures struct {
	Groups []Group
	// Totals are running counts that no figure shows but that flows watch
	// (commands rejected off a bus), by key.
	Totals map[string]float64
	// Waiting says what work waits now and, where the stage knows, what
	// holds it back: "20 commands queued, write DB down". Empty when
	// nothing waits.
	Waiting []string
}

// Group is a titled group of figures, e.g. "Event bus".
type Group struct {
	Title   string
	Figures []Figure
}

// Figure is one number of the live panel.
type Figure struct {
	// Key names the figure for flows (Flow.When) and tests:
	// "events-applied".
	Key   string
	Label string
	Kind  Kind
	// Value is a count, seconds for a Duration, Unix seconds for a Time.
	Value float64
	// Absent says there is no value yet; the panel shows a dash.
	Absent bool
	// Detail is a line under the value. Without one, a Time says how long
	// ago it was.
	Detail string
	// Warn marks a figure that needs attention (events parked).
	Warn bool
	// Action links the figure to one of the stage's actions; empty for
	// none.
	Action Action
}

// Kind says how to read and show a figure's value.
type Kind int

const (
	// Total is a running count since the process started: the panel shows
	// how much it moved since its last refresh, and flows watch it.
	Total Kind = iota
	// Level is a count now, up and down (a bus's backlog).
	Level
	// Duration is a number of seconds (a lag).
	Duration
	// Time is an instant, in Unix seconds.
	Time
)
