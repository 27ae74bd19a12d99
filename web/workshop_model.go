package web

// WorkshopPanel is the workshop controls of a stage (--workshop), on its architecture page.
type WorkshopPanel struct {
	CSRFToken string
	Controls  []WorkshopControl
	// Control and Message say which control refused a value, and why.
	Control, Message string
	// Reset offers "Reset data".
	Reset bool
}

// WorkshopControl is one control: a number (Min to Max, in Unit) or a choice among Choices.
type WorkshopControl struct {
	Key, Label string
	// Number takes a whole number; Text a line of text (Placeholder hints what); otherwise a
	// choice among Choices.
	Number, Text bool
	Placeholder  string
	Value        string
	// On tells whether the control is away from its default.
	On       bool
	Choices  []string
	Min, Max int
	Unit     string
	// Effect says what the control does; Watch what to watch while it is on.
	Effect, Watch string
	// Action is where its form posts.
	Action string
}
