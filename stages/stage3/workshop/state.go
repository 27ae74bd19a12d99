package workshop

import "time"

// State is what the controls hold back now, for the live panel to say why
// work waits.
type State struct {
	// ProjectorPaused, RelayPaused and WriteDown are the switches that
	// stop a part; ProjectorDelay the delay of every event.
	ProjectorPaused, RelayPaused, WriteDown bool
	ProjectorDelay                          time.Duration
}

// State returns what the controls hold back now.
func (c *Controls) State() State {
	return State{
		ProjectorPaused: c.projectorPaused() != nil,
		RelayPaused:     c.relayPaused.Load(),
		WriteDown:       c.writeDown.Load(),
		ProjectorDelay:  time.Duration(c.delay.Load()) * time.Millisecond,
	}
}
