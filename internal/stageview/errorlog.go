package stageview

import "time"

// ErrorEntry is one entry of a stage's error log: an event its projector
// parked after its retries, or a later event of the same order held behind
// one; or a command its command bus gave up on (Kind EntryCommand).
type ErrorEntry struct {
	ID int64
	// Kind is EntryEvent or EntryCommand. For a command, EventID is the
	// command ID and OrderVersion 0.
	Kind          string
	EventID       string
	OrderID       string
	OrderVersion  int
	Type          string
	Status        string // EntryParked, EntryHeld, EntryReplayed or EntryDiscarded
	Error         string
	Attempts      int
	FirstFailedAt time.Time
	LastFailedAt  time.Time
	// Envelope is the message as it arrived; only an entry asked for alone
	// carries it.
	Envelope string
	// Unreadable says why the envelope cannot be read as an event (e.g. a
	// schema version the code does not know); empty if it can.
	Unreadable string
}

// The statuses of an error log entry.
const (
	EntryParked    = "parked"
	EntryHeld      = "held"
	EntryReplayed  = "replayed"
	EntryDiscarded = "discarded"
)

// The kinds of error log entry.
const (
	EntryEvent   = "event"
	EntryCommand = "command"
)

// EntryStatuses returns the statuses, in the order a list filters by them.
func EntryStatuses() []string { return []string{EntryParked, EntryHeld, EntryReplayed, EntryDiscarded} }

// ReplayAll, as the entry of a replay, replays every order in the log.
const ReplayAll int64 = 0

// ReplayReport is what a replay did, or in a dry run would do.
type ReplayReport struct {
	DryRun                            bool
	Applied, Skipped, Failed, Waiting int
	Steps                             []ReplayStep
}

// ReplayStep is what became of one entry in a replay.
type ReplayStep struct {
	EntryID      int64
	OrderID      string
	OrderVersion int
	Type         string
	Result       string // applied, skipped, failed or waiting
	Text         string // e.g. "would apply v3 OrderShipped"
}
