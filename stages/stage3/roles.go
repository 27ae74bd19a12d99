package stage3

import "slices"

// Worker is one of the stage's background workers. A process runs all of
// them by default; scaled out, each runs in the processes given its role,
// and they share the work through the bus: the command handler and the
// projector bind to one durable consumer each, which hands every message
// to one of the processes bound to it, and only one relay publishes at a
// time (on PostgreSQL, the holder of an advisory lock).
type Worker string

// The workers.
const (
	// WorkerCommands applies the commands queued on the command bus.
	WorkerCommands Worker = "commands"
	// WorkerRelay publishes the change log to the event bus.
	WorkerRelay Worker = "relay"
	// WorkerProjector applies the events to the read database.
	WorkerProjector Worker = "projector"
)

// runs tells whether Start runs w in this process.
func (s *Stage) runs(w Worker) bool {
	return s.cfg.Workers == nil || slices.Contains(s.cfg.Workers, w)
}
