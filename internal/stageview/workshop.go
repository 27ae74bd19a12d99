package stageview

// Control is one workshop control of a stage (--workshop): a switch or a
// number that makes a part of the stage's behaviour visible at human
// speed. Every control is off by default and forgotten on restart.
type Control struct {
	// Key names the control in the API: "projector_delay_ms".
	Key string
	// Label is short: "Projector delay".
	Label string
	// Kind is ControlNumber, ControlChoice or ControlText.
	Kind string
	// Value is the current value, as the API takes it: "250", "paused".
	Value string
	// Default is the value the control has when off.
	Default string
	// Choices are the values of a ControlChoice, the default first.
	Choices []string
	// Min and Max bound a ControlNumber; Unit names its unit ("ms").
	Min, Max int
	Unit     string
	// Placeholder hints at what a ControlText takes ("an order ID").
	Placeholder string
	// Effect says what the control does; Watch what attendees should
	// watch while it is on.
	Effect, Watch string
	// Marks are what the control, as set now, changes in the stage's
	// diagram; none while it has no visible effect there.
	Marks []Mark
}

// Mark is a control's effect on one part of the diagram.
type Mark struct {
	// Target is a box's Component ("write-db"), or a live flow's name
	// ("command-bus"): every box and arrow on that flow, a box only when
	// all its flows are marked.
	Target string
	// State is one of the Mark… states.
	State string
	// Text is a short label drawn beside a marked box: "down", "+500 ms".
	Text string
}

// The states of a Mark.
const (
	// MarkFault: the part fails, or is made to fail (drawn red).
	MarkFault = "fault"
	// MarkPaused: the part does nothing for now.
	MarkPaused = "paused"
	// MarkSlow: the part works, slowly.
	MarkSlow = "slow"
	// MarkAltered: what passes through the part is altered (duplicated,
	// reordered, written in an older schema).
	MarkAltered = "altered"
	// MarkIdle: a path not taken as the stage runs now (drawn faded).
	MarkIdle = "idle"
)

// The kinds of Control.
const (
	ControlNumber = "number"
	ControlChoice = "choice"
	// ControlText takes a line of text; empty is its default (off).
	ControlText = "text"
)

// On tells whether the control is away from its default.
func (c Control) On() bool { return c.Value != c.Default }
