package web

// ProcessesPanel is the architecture page's panel of the app's running
// processes, per role. It polls URL every 2 s and is replaced by the
// answer: a process that started shows, one that died goes.
type ProcessesPanel struct {
	URL string
	// Count is how many processes run; Problem, if set, says why the
	// list cannot be read.
	Count   int
	Problem string
	Roles   []ProcessRole
}

// ProcessRole is one role's column: the processes that run it.
type ProcessRole struct {
	Role      string
	Processes []ProcessView
}

// ProcessView is one process, display-ready.
type ProcessView struct {
	ID, Addr, Version, Roles, Stage string
	// Heartbeat says how long ago it last announced itself; Up how long it
	// has run; Rates its throughput in words.
	Heartbeat, Up, Rates string
}
