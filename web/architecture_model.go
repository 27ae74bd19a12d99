package web

// Architecture is the architecture page: one stage's diagram, what that stage changed and where
// its code lives, with tabs to every stage's diagram.
type Architecture struct {
	// Stage is the stage shown; Active is the stage the app runs. They differ in a preview.
	Stage, Active int
	// Name and Changed describe the stage shown: its short name and what it changed from the
	// stage before.
	Name, Changed string
	// Package is the path of the package that implements the stage, e.g. "stages/stage2".
	Package string
	// PackageURL links to the package's source listing; empty shows Package as text only.
	PackageURL string
	// Available tells whether this server can run the stage shown (the stage switcher lists it).
	Available bool
	// Tabs link to every stage's diagram, available or not.
	Tabs    []ArchitectureTab
	Diagram Diagram
	// ErrorLog links the error log of the stage shown.
	ErrorLog bool
	// Rebuild is the read database rebuild control of the stage shown; nil hides it.
	Rebuild *RebuildPanel
	// Workshop is the workshop controls of the stage shown (--workshop); nil hides them.
	Workshop *WorkshopPanel
	// Live is the panel of live numbers under the diagram; nil hides it.
	Live *LivePanel
	// Processes is the panel of the app's running processes; nil hides it.
	Processes *ProcessesPanel
	// Health lists the parts of the active stage that are not well, and why
	// (what the relay waits for, a read side behind, a database down); empty
	// when all are well or the page previews another stage.
	Health []HealthNote
}

// HealthNote is one part of the running stage that is degraded or down.
type HealthNote struct {
	Name   string // "relay", "write database", …
	State  string // "degraded" or "down"
	Reason string
}

// LivePanel is what the app is doing now, under the architecture page's diagram: counts of
// commands, queries and events, projection lag, bus backlog and the error log. It polls URL
// every 2 s and is replaced by the answer, which marks the flows that moved meanwhile so that
// CSS animates their arrows and boxes in the diagram (no script).
type LivePanel struct {
	// URL is the fragment that replaces the panel; it carries this rendering's counts, so that
	// the next rendering can tell what moved since.
	URL string
	// Stage is the stage whose diagram the page shows; Preview is set when that is not the
	// active stage (the numbers are then the running app's, and nothing is animated).
	Stage   int
	Preview bool
	// Flows are the diagram flows that moved since the last rendering, matched against the
	// diagram's data-flow attributes: "command", "query", "command-sync", "command-bus",
	// "write", "relay" and "project".
	Flows []string
	// FlowText says in words what moved, for those who do not see the animation.
	FlowText string
	Groups   []LiveGroup
	// Graph is the lag graph of the last few minutes; nil hides it.
	Graph *LagGraph
}

// LiveGroup is a titled group of numbers, e.g. "Event bus".
type LiveGroup struct {
	Title string
	Stats []LiveStat
}

// LiveStat is one number of the live panel.
type LiveStat struct {
	// Key names the number for tests, e.g. "events-applied".
	Key   string
	Label string
	Value string
	// Delta is what it moved since the last rendering, e.g. "+12"; empty when it did not.
	Delta string
	// Detail is a line under the value, e.g. the read side's newest event time.
	Detail string
	// Warn marks a number that needs attention (events parked in the error log).
	Warn bool
	// URL links the number, e.g. to the error log; empty for none.
	URL string
}

// RebuildPanel is the rebuild control on the architecture page of a stage with a read database: a button that rebuilds
// the read database from the database of record, and the progress of the running or last
// rebuild.
type RebuildPanel struct {
	CSRFToken string
	// Job is the running or last rebuild; nil if there was none.
	Job *RebuildProgress
	// Message is shown beside the button, e.g. why a rebuild could not start.
	Message string
}

// Running tells whether a rebuild runs now: the button is then replaced by its progress.
func (p RebuildPanel) Running() bool { return p.Job != nil && !p.Job.Finished }

// RebuildProgress is a rebuild as the UI shows it, live over server-sent events while it runs.
type RebuildProgress struct {
	// EventsURL is the stream of progress updates while it runs; empty once it finished.
	EventsURL string
	// Value of Max (1000) is how far it is, for a <progress> element (no inline styles).
	Value, Max int
	// Text says where it is: "Replaying events 1200/5000 (3100/s)"; once finished, the
	// summary or what went wrong.
	Text             string
	Finished, Failed bool
	// NextURL is the page to go on to when it finished (after a stage switch that needed a
	// rebuild), with NextLabel as the link's text.
	NextURL, NextLabel string
}

// Preview tells whether the page shows another stage than the active one.
func (a Architecture) Preview() bool { return a.Stage != a.Active }

// ArchitectureTab is one link of the stage tabs.
type ArchitectureTab struct {
	Number int
	Label  string
	URL    string
	// Current marks the tab of the stage shown; Active the stage the app runs.
	Current, Active bool
	// Available tells whether this server can run the stage.
	Available bool
}

// Diagram is a box-and-arrow drawing in a Width×Height coordinate space (the SVG viewBox).
// It is drawn generically: every position is computed by the caller.
type Diagram struct {
	// Stage is written to the svg's data-stage and makes the element IDs unique.
	Stage         int
	Width, Height int
	// Title and Desc become the svg's <title> and <desc>: a name and the flow in words.
	Title, Desc string
	Boxes       []DiagramBox
	Arrows      []DiagramArrow
}

// DiagramBox is one component.
type DiagramBox struct {
	// Component names the box for tests and styling, e.g. "event-bus".
	Component string
	// Kind picks the colours: "ui", "api", "model", "db", "bus" or "worker". A "db" box is
	// drawn as a cylinder.
	Kind       string
	X, Y, W, H int
	// Dashed draws the outline dashed (an optional component).
	Dashed bool
	// Flow lists, space-separated, the live flows that pass through the box (see
	// LivePanel.Flows); the page animates the box while one of them moves.
	Flow string
	// Text is the box's lines; the first is the name, drawn bold.
	Text []DiagramText
	// Mark is what a workshop control does to the box now ("fault",
	// "paused", "slow", "altered", "idle"; empty: nothing), MarkText its
	// label ("down").
	Mark, MarkText string
}

// DiagramText is one line of text, centred on X with its baseline at Y.
type DiagramText struct {
	X, Y int
	Text string
}

// DiagramArrow is a line through Points ending in an arrowhead, with an optional label.
type DiagramArrow struct {
	// Kind picks the colour: "command", "query", "event" or "mixed" (reads and writes at once).
	Kind   string
	Points []DiagramPoint
	// Dashed draws an optional path, e.g. the command bus.
	Dashed bool
	// Flow lists, space-separated, the live flows the arrow carries (see LivePanel.Flows).
	Flow  string
	Label string
	// Mark is what a workshop control does to the arrow now ("idle": a path not taken).
	Mark string
	// LabelX and LabelY place the label's baseline; LabelAnchor is "start", "middle" or "end".
	LabelX, LabelY int
	LabelAnchor    string
}

// DiagramPoint is a point of an arrow.
type DiagramPoint struct{ X, Y int }

// SourceDir is the listing of a stage package's Go files.
type SourceDir struct {
	// Path is the directory, e.g. "stages/stage2".
	Path string
	// Stage is the stage the directory belongs to, or -1.
	Stage int
	Files []SourceLink
}

// SourceLink is one file of a listing.
type SourceLink struct {
	// Path is relative to the listing's directory, e.g. "command/handlers.go".
	Path string
	URL  string
}

// SourceFile is one source file, shown as text.
type SourceFile struct {
	// Path is the file's path, e.g. "stages/stage2/command/handlers.go".
	Path string
	// Dir and DirURL name and link the package listing the file belongs to.
	Dir, DirURL string
	// Stage is the stage the file belongs to, or -1.
	Stage   int
	Content string
}
