package stage3

import "github.com/staircase/staircase/internal/stageview"

// The live flows stage 3 adds to its diagram (Describe), besides commands
// and queries.
const (
	FlowCommandSync = "command-sync" // the modify API applies commands itself
	FlowCommandBus  = "command-bus"  // commands go through the command bus
	FlowWrite       = "write"        // the write model saves to the write database
	FlowRelay       = "relay"        // the relay publishes the change log
	FlowProject     = "project"      // the projector applies events to the read database
	FlowDashboard   = "dashboard"    // the dashboard projector, a second consumer, keeps the dashboard's figures
)

// Describe is stage 3 as the architecture page, the stage switcher and the
// live panel show it; Stage.Figures reports its live figures.
func Describe() stageview.Description {
	cmd, qry := []string{stageview.FlowCommand}, []string{stageview.FlowQuery}
	both := []string{stageview.FlowCommand, stageview.FlowQuery}
	b := stageview.NewDrawing(map[string][]string{
		"browser": both, "bff-command-client": cmd, "bff-query-client": qry,
		"modify-api": cmd, "retrieve-api": qry, "write-model": cmd, "read-model": qry, "write-db": both,
		"command-bus": {FlowCommandBus}, "command-handler": {FlowCommandBus},
		"read-db": {stageview.FlowQuery, FlowProject}, "outbox-relay": {FlowRelay},
		"event-bus": {FlowRelay, FlowProject, FlowDashboard}, "projector": {FlowProject},
		"dashboard-projector": {FlowDashboard},
	})
	left, middle, right := stageview.Left, stageview.Middle, stageview.Right
	browser := b.Box("browser", "ui", stageview.Full, 0, "Browser / UI", "orders, dashboard, forms (htmx)")
	cmdClient := b.Box("bff-command-client", "ui", left, 1, "BFF · command client", "forms post commands")
	qryClient := b.Box("bff-query-client", "ui", right, 1, "BFF · query client", "pages run queries")
	modify := b.Box("modify-api", "api", left, 2, "Modify API", "/api/commands")
	retrieve := b.Box("retrieve-api", "api", right, 2, "Retrieve API", "/api/queries")
	bus := b.Box("command-bus", "bus", middle, 2, "Command bus", "NATS JetStream (optional)")
	handler := b.Box("command-handler", "worker", middle, 3, "Command handler", "at the pace the DB sustains")
	b.Dashed(bus)
	b.Dashed(handler)
	write := b.Box("write-model", "model", left, 3, "Write model", "Order aggregate + repository", "(optimistic version)")
	read := b.Box("read-model", "model", right, 3, "Read model", "DTO queries over read tables")
	wdb := b.Box("write-db", "db", left, 4, "Write DB", "orders + change log", "(same transaction)")
	rdb := b.Box("read-db", "db", right, 4, "Read DB", "denormalized tables")
	relay := b.Box("outbox-relay", "worker", left, 5, "Outbox relay / forwarder", "change log → event bus")
	events := b.Box("event-bus", "bus", middle, 5, "Event bus", "NATS JetStream")
	proj := b.Box("projector", "worker", right, 5, "Projector", "idempotent, in version order")
	b.Down("command", left.Mid(), browser, cmdClient, "commands")
	b.Down("query", right.Mid(), browser, qryClient, "queries")
	b.Down("command", left.Mid(), cmdClient, modify, "commands (ack/nak + version)")
	b.Down("query", right.Mid(), qryClient, retrieve, "queries")
	b.Flows = []string{FlowCommandSync}
	b.Down("command", left.Mid(), modify, write, "commands (sync)")
	b.Flows = []string{FlowCommandBus}
	b.Across("command", stageview.MidY(modify), modify, bus, "", true)
	b.Arrow(stageview.Arrow{
		Kind: "command", Dashed: true, Points: []stageview.Point{{X: middle.Mid(), Y: bus.Y + bus.H}, {X: middle.Mid(), Y: handler.Y - 2}},
		Label: "--command-bus=async", LabelX: middle.Mid() + 9, LabelY: (bus.Y+bus.H+handler.Y)/2 + 4, LabelAnchor: "start",
	})
	b.Across("command", stageview.MidY(handler), handler, write, "", true)
	b.Flows = nil
	b.Down("query", right.Mid(), retrieve, read, "queries")
	b.Flows = []string{FlowWrite}
	b.Down("command", left.Mid(), write, wdb, "save + append events")
	b.Flows = nil
	b.Down("query", right.Mid(), read, rdb, "select")
	b.Flows = []string{FlowRelay}
	b.Down("event", left.Mid(), wdb, relay, "change log")
	b.Across("event", stageview.MidY(relay), relay, events, "events", false)
	b.Flows = []string{FlowProject}
	b.Across("event", stageview.MidY(events), events, proj, "events", false)
	b.Up("event", right.Mid(), proj, rdb, "upsert by version")
	// The bus fans out: a second durable consumer keeps the dashboard.
	b.Flows = []string{FlowDashboard}
	dash := b.Box("dashboard-projector", "worker", middle, 4, "Dashboard projector", "2nd consumer: figures ± delta")
	b.Up("event", middle.Mid(), events, dash, "")
	b.Across("event", stageview.MidY(dash), dash, rdb, "", false)
	b.Flows = nil

	sync := stageview.Flow{When: []string{stageview.Commands}, Unless: []string{FigureCommandsAccepted}}
	commandSync, writeSync := sync, sync
	commandSync.Name, writeSync.Name = FlowCommandSync, FlowWrite
	return stageview.Description{
		Number: 3,
		Name:   "Separate databases",
		Changed: "The read side gets its own database. Each write transaction also appends its events to a change log " +
			"in the database of record; the event bus carries them to a projector that keeps denormalized read tables " +
			"up to date, so reads are eventually consistent. Optionally, commands travel on a command bus and are " +
			"applied at the rate the write database sustains.",
		Package:  "stages/stage3",
		API:      "its API is /api/commands/… and /api/queries/…",
		Commands: "Commands", Queries: "Queries",
		Diagram: b.Diagram("The read side gets its own database. Commands from the modify API reach the write model directly, or with " +
			"--command-bus=async through a command bus (NATS JetStream) and a command handler. The write model saves the order " +
			"and appends its events to a change log in the write database in the same transaction. An outbox relay forwards " +
			"the change log to the event bus (NATS JetStream); a projector applies the events, in version order, to denormalized " +
			"tables in the read database, and a second consumer of the same events, the dashboard projector, keeps the dashboard's " +
			"figures there by deltas. Queries from the retrieve API read only the read database, through the read model."),
		Flows: []stageview.Flow{
			{Name: stageview.FlowCommand, Words: "commands", When: []string{stageview.Commands}},
			{Name: stageview.FlowQuery, Words: "queries", When: []string{stageview.Queries}},
			{Name: FlowCommandBus, Words: "the command bus", When: []string{FigureCommandsAccepted, FigureCommandsApplied, TotalCommandsRejected}},
			commandSync,
			writeSync,
			{Name: FlowWrite, When: []string{FigureCommandsApplied}},
			{Name: FlowRelay, Words: "events published", When: []string{FigureEventsPublished}},
			{Name: FlowProject, Words: "events projected", When: []string{FigureEventsApplied, FigureEventsDuplicate}},
			{Name: FlowDashboard, Words: "dashboard updated", When: []string{FigureDashboardApplied, FigureDashboardDuplicate}},
		},
		Actions:           []stageview.Action{stageview.ErrorLog, stageview.Rebuild},
		KeepsCancelReason: true,
	}
}
