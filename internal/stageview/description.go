package stageview

// Description is a stage as people see it: on the architecture page, in the
// stage switcher and in the live panel.
type Description struct {
	// Number is the stage's place on the staircase, 0 to 3.
	Number int
	// Name is short: "Separate models".
	Name string
	// Changed says, in two or three sentences, what changed from the stage
	// before.
	Changed string
	// Package is the path of the package that implements the stage, e.g.
	// "stages/stage2".
	Package string
	// API says where the stage's JSON API is, to a client that asked for
	// something else: "its API is /api/orders".
	API string
	// Commands and Queries name the stage's requests that write and read
	// in the live panel: "Commands" and "Queries", or "Writes" and "Reads"
	// for a stage with no such split.
	Commands, Queries string
	Diagram           Diagram
	// Flows are the live flows the diagram draws (Box.Flows, Arrow.Flows):
	// the figures whose movement sets each one off.
	Flows []Flow
	// Actions are what the stage offers an operator from its page.
	Actions []Action
	// KeepsCancelReason is set when the stage records the reason an order
	// was cancelled for; a stage without a place for it drops it.
	KeepsCancelReason bool
}

// Has tells whether the stage offers action a.
func (d Description) Has(a Action) bool {
	for _, x := range d.Actions {
		if x == a {
			return true
		}
	}
	return false
}

// Action is an operation a stage offers an operator, on its architecture
// page and through the admin API.
type Action string

const (
	// ErrorLog lists, inspects, dry-runs and replays the events a
	// projector parked (the stage implements the BFF's error log port).
	ErrorLog Action = "error-log"
	// Rebuild rebuilds the read database from the database of record, with
	// its progress (the stage implements the BFF's rebuilder port).
	Rebuild Action = "rebuild"
)

// Flow is a live flow of the diagram: a path that lights up on the
// architecture page while something moves along it. It moves when one of
// the figures When moved since the panel's last refresh and none of those
// Unless did; several Flows of the same Name move it if any does.
type Flow struct {
	Name string
	// Words say in the panel's text what moved ("events published");
	// empty for a flow the text does not name.
	Words        string
	When, Unless []string
}

// The flows and figures every stage has: the BFF counts the requests that
// reach a stage as commands (writes) or queries (reads).
const (
	// FlowCommand is the path of commands (stage 0: writes).
	FlowCommand = "command"
	// FlowQuery is the path of queries (stage 0: reads).
	FlowQuery = "query"
	// Commands and Queries are the keys of the request figures.
	Commands = "commands"
	Queries  = "queries"
)
