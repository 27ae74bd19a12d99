package stageview

// Control is one workshop control of a stage (--workshop): a switch or a
// number that makes a part of the stage's behaviour visible at human
// speed. Every control is off by default and forgotten on restart.
type Control struct {
	// Key names the control in the API: "projector_delay_ms".
	Key string
	// Label is short: "Projector delay".
	Label string
	// Kind is ControlNumber or ControlChoice.
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
	// Effect says what the control does; Watch what attendees should
	// watch while it is on.
	Effect, Watch string
}

// The kinds of Control.
const (
	ControlNumber = "number"
	ControlChoice = "choice"
)

// On tells whether the control is away from its default.
func (c Control) On() bool { return c.Value != c.Default }
