package stage0

import "github.com/staircase/staircase/internal/stageview"

// Describe is stage 0 as the architecture page, the stage switcher and the
// live panel show it.
func Describe() stageview.Description {
	both := []string{stageview.FlowCommand, stageview.FlowQuery}
	b := stageview.NewDrawing(map[string][]string{
		"browser": both, "bff": both, "rest-api": both, "crud-service": both, "row-model": both, "write-db": both,
	})
	browser := b.Box("browser", "ui", stageview.Center, 0, "Browser / UI", "orders, dashboard, forms (htmx)")
	bff := b.Box("bff", "ui", stageview.Center, 1, "BFF", "pages and fragments, one client")
	api := b.Box("rest-api", "api", stageview.Center, 2, "REST API", "/api/orders · GET POST PUT DELETE")
	svc := b.Box("crud-service", "worker", stageview.Center, 3, "CRUD service", "update returns the updated order")
	model := b.Box("row-model", "model", stageview.Center, 4, "Order row model", "the table row is the model")
	db := b.Box("write-db", "db", stageview.Center, 5, "Write DB", "orders")
	x := stageview.Center.Mid()
	b.Down("mixed", x, browser, bff, "read + write")
	b.Down("mixed", x, bff, api, "read + write")
	b.Down("mixed", x, api, svc, "read + write")
	b.Down("mixed", x, svc, model, "read + write")
	b.Down("mixed", x, model, db, "read + write")
	return stageview.Description{
		Number: 0,
		Name:   "CRUD",
		Changed: "One model that is the table row, a CRUD service and one REST API, /api/orders. Reads and writes go " +
			"through the same code and the same tables; the dashboard is computed on the fly with joins and aggregates.",
		Package:  "stages/stage0",
		API:      "its API is /api/orders",
		Commands: "Writes", Queries: "Reads",
		Diagram: b.Diagram("One path for everything. The browser talks to the BFF, which calls one REST API, /api/orders. " +
			"The API calls a CRUD service whose operations may read and write at once; the service works on the order row model, " +
			"which is the row of the orders table in the write database. Every arrow carries reads and writes."),
		Flows: []stageview.Flow{
			{Name: stageview.FlowCommand, Words: "commands", When: []string{stageview.Commands}},
			{Name: stageview.FlowQuery, Words: "queries", When: []string{stageview.Queries}},
		},
	}
}
