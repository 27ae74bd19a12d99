package stageview

// Readiness is how a stage's parts are doing now, for /readyz: each
// component with its state, and whether the stage can serve at all.
type Readiness struct {
	Components []Component
}

// Component is one part a stage depends on: a database, a bus, a worker.
type Component struct {
	// Key names the component for scripts: "write_db", "read_db", "bus",
	// "relay", "projector".
	Key string
	// Name is what a person calls it: "read database".
	Name  string
	State State
	// Reason says, when the component is not Up, what is wrong and what
	// it means for the stage: "unreachable: commands wait on the bus".
	Reason string
	// Essential says the stage cannot serve while the component is Down
	// (its reads or its commands fail); a component that is not essential
	// only degrades the stage.
	Essential bool
	// Lag is how far behind the component is, in seconds (the age of the
	// oldest event it has not handled yet), when it has one; Backlog how
	// many items wait for it. Nil when the component has no such figure or
	// it is not known.
	Lag     *float64
	Backlog *float64
}

// State is a component's state.
type State string

// The states of a component.
const (
	Up       State = "up"
	Degraded State = "degraded"
	Down     State = "down"
)

// CanServe tells whether no essential component is down.
func (r Readiness) CanServe() bool {
	for _, c := range r.Components {
		if c.Essential && c.State == Down {
			return false
		}
	}
	return true
}

// Degraded tells whether any component is not up.
func (r Readiness) Degraded() bool {
	for _, c := range r.Components {
		if c.State != Up {
			return true
		}
	}
	return false
}
