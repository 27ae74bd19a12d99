package bff

// The tour's text: one lesson per stage, in the order a workshop climbs
// them. What a stage's code changed comes from the stage itself (its
// description and its README's list of files); this is what a leader
// would say about it, and what to try.

// ibmCQRS is IBM's description of the four stages, in its Event-Driven
// Reference Architecture.
const ibmCQRS = "https://ibm-cloud-architecture.github.io/refarch-eda/patterns/cqrs/"

// lesson is the tour's page of one stage.
type lesson struct {
	// Why says, a paragraph each, what the step is and why one takes it.
	Why []string
	// Steps are the "try this now" steps, in order.
	Steps []tourStep
}

// tourStep is one "try this now" step. Its button switches to the
// lesson's stage and sets the workshop controls of Settings; a step whose
// controls the server lacks shows no button.
type tourStep struct {
	Key, Title string
	// Do is what to do once the button was pressed; Watch what to see.
	Do, Watch string
	// Curl, when set, is a command to try in a terminal.
	Curl     string
	Settings []tourSetting
	// Restore, instead of Settings, sets every workshop control back to
	// its default.
	Restore bool
}

// tourSetting sets one workshop control by its key. Values lists what
// the control may call the setting, the first it takes is used (a switch
// may call "on" true).
type tourSetting struct {
	Control string
	Values  []string
}

func set(control string, values ...string) tourSetting {
	return tourSetting{Control: control, Values: values}
}

// lessons are the tour's pages, by stage.
var lessons = []lesson{
	{
		Why: []string{
			"Most applications start here, and many are right to stay: one model, the row of the orders table, used for everything. " +
				"A CRUD service reads and writes it, and one REST resource, /api/orders, offers it to the world. " +
				"An update answers with the updated order, so one request both changes and reads.",
			"It is the simplest thing that works. The trouble shows as the application grows: the screens want orders shaped for them " +
				"(totals, counts per status, top customers), the rules want an order that guards its status, and both pull on the same model. " +
				"The dashboard here is computed on every request, with joins and sums over the same tables the writes lock.",
		},
		Steps: []tourStep{
			{Key: "enter", Title: "Start in stage 0",
				Do:    "Place an order from New order, then open the Dashboard.",
				Watch: "The order shows at once, and the dashboard counts it: every read goes to the table the write just changed.",
				Curl:  "curl -s 'localhost:8080/api/orders?limit=5'"},
		},
	},
	{
		Why: []string{
			"The first step splits the API, not the model. Commands change an order and answer only ack or nak: 204 with the new version " +
				"in the ETag, or a problem. Queries read and change nothing. A caller can tell from the path alone whether a request may change state.",
			"That split is cheap and pays at once: the write path can be secured, throttled and logged apart from the read path, " +
				"and the client's code splits the same way. Underneath, the model and the service are stage 0's, unchanged: the diff below shows only the APIs.",
		},
		Steps: []tourStep{
			{Key: "enter", Title: "Switch to stage 1",
				Do:    "Ship an order from its page, then try the two APIs from a terminal.",
				Watch: "The command answers 204 with the version in ETag and no body; the query says which version it read and from which side. /api/orders now answers 404, naming the stage.",
				Curl:  "curl -si -X POST localhost:8080/api/commands/ship-order -H 'Content-Type: application/json' -d '{\"id\": \"<an order ID>\"}'"},
		},
	},
	{
		Why: []string{
			"Now the model splits too. The write model is the order aggregate: commands load it, it enforces every rule, " +
				"and a repository saves it with optimistic concurrency on its version, so two people changing one order cannot overwrite each other.",
			"The read model is no aggregate at all: queries written for reading return DTOs shaped for each screen, from views over the same database. " +
				"Each side can now change for its own reasons, and still one transaction sees them both.",
		},
		Steps: []tourStep{
			{Key: "enter", Title: "Switch to stage 2",
				Do:    "Open one placed order in two tabs. Ship it in the first, then cancel it in the second.",
				Watch: "The second tab acted on a version that is gone: the aggregate refuses, and the page says the order changed meanwhile and shows it as it is now."},
		},
	},
	{
		Why: []string{
			"The last step gives each side its own database. The write database stays the database of record; every write transaction also " +
				"appends its events to a change log in that same transaction, so there is no dual write. A relay publishes the log to the event bus, " +
				"and a projector keeps the read database, with tables made for the screens.",
			"Reads are now eventually consistent: every read says which version it saw and from which side, and the screens mark what is still syncing. " +
				"The price buys a read side that scales and fails on its own, can be dropped and rebuilt from the record, and takes new projections by replaying the log. " +
				"At local speed the read side catches up within milliseconds; the steps below slow it down so you can watch.",
		},
		Steps: []tourStep{
			{Key: "enter", Title: "Switch to stage 3",
				Do:    "Open the Architecture page and place an order.",
				Watch: "The diagram lights the path: command, change log, relay, bus, projector, read database."},
			{Key: "slow-projector", Title: "Slow the projector down",
				Settings: []tourSetting{set("projector_delay_ms", "3000")},
				Do:       "Place an order, then change an order's lines.",
				Watch:    "The new order is listed as pending and the changed one as syncing, until the projector applies their events three seconds later; the projection lag rises on the Architecture page."},
			{Key: "pause-projector", Title: "Pause the projector",
				Settings: []tourSetting{set("projector", "paused")},
				Do:       "Place a few orders, then set the projector back to running on the Architecture page.",
				Watch:    "The events wait on the bus: the backlog grows while it is paused and drains when it runs again."},
			{Key: "pause-relay", Title: "Pause the relay",
				Settings: []tourSetting{set("relay", "paused")},
				Do:       "Place a few orders.",
				Watch:    "The commands succeed and the change log grows, but the bus stays quiet: nothing is published until the relay runs again."},
			{Key: "command-bus", Title: "Queue commands on the command bus",
				Settings: []tourSetting{set("command_bus", "async")},
				Do:       "Ship an order.",
				Watch:    "The command is answered 202 Accepted at once and applied a moment later by the command handler: the page says it is queued until then."},
			{Key: "write-db-down", Title: "Take the write database down",
				Settings: []tourSetting{set("write_db", "down")},
				Do:       "Try to ship an order; then bring the write database up again on the Architecture page.",
				Watch:    "With the sync command bus the command is refused with 503 while reads go on; with the async one it waits on the bus and is applied when the database is back."},
			{Key: "duplicates", Title: "Deliver every other event twice",
				Settings: []tourSetting{set("duplicate_deliveries_pct", "50")},
				Do:       "Place and ship a few orders.",
				Watch:    "The projector gets copies of events it has applied, ignores them by version, and the read side stays the same: the counter of ignored duplicates grows."},
			{Key: "reorder", Title: "Deliver events out of order",
				Settings: []tourSetting{set("reorder_deliveries", "on", "true")},
				Do:       "Place an order and ship it at once.",
				Watch:    "An event that arrives before the one it follows waits for it instead of skipping it: the read side ends the same."},
			{Key: "legacy-events", Title: "Write old-schema events",
				Settings: []tourSetting{set("legacy_events", "on", "true")},
				Do:       "Place an order and open its event in the event viewer.",
				Watch:    "The event is stored as schema version 1, without a currency, and the upcaster reads it as the current version."},
			{Key: "restore", Title: "Put every control back", Restore: true,
				Do:    "Carry on with the app as it runs normally.",
				Watch: "Everything waiting (paused events, queued commands) goes through."},
		},
	},
}
