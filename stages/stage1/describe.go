package stage1

import "github.com/staircase/staircase/internal/stageview"

// Describe is stage 1 as the architecture page, the stage switcher and the
// live panel show it.
func Describe() stageview.Description {
	cmd, qry := []string{stageview.FlowCommand}, []string{stageview.FlowQuery}
	both := []string{stageview.FlowCommand, stageview.FlowQuery}
	b := stageview.NewDrawing(map[string][]string{
		"browser": both, "bff-command-client": cmd, "bff-query-client": qry,
		"modify-api": cmd, "retrieve-api": qry, "row-model": both, "write-db": both,
	})
	browser := b.Box("browser", "ui", stageview.Full, 0, "Browser / UI", "orders, dashboard, forms (htmx)")
	cmdClient := b.Box("bff-command-client", "ui", stageview.Left, 1, "BFF · command client", "forms post commands")
	qryClient := b.Box("bff-query-client", "ui", stageview.Right, 1, "BFF · query client", "pages run queries")
	modify := b.Box("modify-api", "api", stageview.Left, 2, "Modify API", "/api/commands")
	retrieve := b.Box("retrieve-api", "api", stageview.Right, 2, "Retrieve API", "/api/queries")
	model := b.Box("row-model", "model", stageview.Middle, 3, "Order row model", "stage 0's model, shared")
	db := b.Box("write-db", "db", stageview.Middle, 4, "Write DB", "orders")
	left, right := stageview.Left.Mid(), stageview.Right.Mid()
	b.Down("command", left, browser, cmdClient, "commands")
	b.Down("query", right, browser, qryClient, "queries")
	b.Down("command", left, cmdClient, modify, "commands (ack/nak + version)")
	b.Down("query", right, qryClient, retrieve, "queries")
	b.Elbow("command", left, modify, model, "commands")
	b.Elbow("query", right, retrieve, model, "queries")
	b.Down("mixed", stageview.Middle.Mid(), model, db, "read + write")
	return stageview.Description{
		Number: 1,
		Name:   "Separate APIs",
		Changed: "The API splits in two: a modify API of commands that answer only ack or nak (with the new version), " +
			"and a retrieve API of queries that change nothing. The model underneath is still stage 0's row; " +
			"the BFF's client code splits into a command side and a query side.",
		Package:  "stages/stage1",
		API:      "its API is /api/commands/… and /api/queries/…",
		Commands: "Commands", Queries: "Queries",
		Diagram: b.Diagram("The API splits in two. The browser's forms go through the BFF's command client to the modify API, /api/commands, " +
			"whose commands answer only ack or nak with the order's new version. Pages go through the BFF's query client to the retrieve API, " +
			"/api/queries, whose queries change nothing. Both APIs still use the same order row model over the same write database."),
		Flows: []stageview.Flow{
			{Name: stageview.FlowCommand, Words: "commands", When: []string{stageview.Commands}},
			{Name: stageview.FlowQuery, Words: "queries", When: []string{stageview.Queries}},
		},
	}
}
