package stage2

import "github.com/staircase/staircase/internal/stageview"

// Describe is stage 2 as the architecture page, the stage switcher and the
// live panel show it.
func Describe() stageview.Description {
	cmd, qry := []string{stageview.FlowCommand}, []string{stageview.FlowQuery}
	both := []string{stageview.FlowCommand, stageview.FlowQuery}
	b := stageview.NewDrawing(map[string][]string{
		"browser": both, "bff-command-client": cmd, "bff-query-client": qry,
		"modify-api": cmd, "retrieve-api": qry, "write-model": cmd, "read-model": qry, "write-db": both,
	})
	browser := b.Box("browser", "ui", stageview.Full, 0, "Browser / UI", "orders, dashboard, forms (htmx)")
	cmdClient := b.Box("bff-command-client", "ui", stageview.Left, 1, "BFF · command client", "forms post commands")
	qryClient := b.Box("bff-query-client", "ui", stageview.Right, 1, "BFF · query client", "pages run queries")
	modify := b.Box("modify-api", "api", stageview.Left, 2, "Modify API", "/api/commands")
	retrieve := b.Box("retrieve-api", "api", stageview.Right, 2, "Retrieve API", "/api/queries")
	write := b.Box("write-model", "model", stageview.Left, 3, "Write model", "Order aggregate + repository", "(optimistic version)")
	read := b.Box("read-model", "model", stageview.Right, 3, "Read model", "DTO queries over views")
	db := b.Box("write-db", "db", stageview.Middle, 4, "Write DB", "orders tables + read views")
	left, right := stageview.Left.Mid(), stageview.Right.Mid()
	b.Down("command", left, browser, cmdClient, "commands")
	b.Down("query", right, browser, qryClient, "queries")
	b.Down("command", left, cmdClient, modify, "commands (ack/nak + version)")
	b.Down("query", right, qryClient, retrieve, "queries")
	b.Down("command", left, modify, write, "commands")
	b.Down("query", right, retrieve, read, "queries")
	b.Elbow("command", left, write, db, "load + save, version check")
	b.Elbow("query", right, read, db, "select from views")
	return stageview.Description{
		Number: 2,
		Name:   "Separate models",
		Changed: "The model splits too. Writes load the order aggregate, which enforces every rule, and save it through " +
			"a repository with optimistic concurrency on its version. Reads never load an aggregate: they select DTOs " +
			"shaped for each screen from views made for reading, in the same database.",
		Package:  "stages/stage2",
		API:      "its API is /api/commands/… and /api/queries/…",
		Commands: "Commands", Queries: "Queries",
		Diagram: b.Diagram("The models split too. Commands from the modify API load the order aggregate, which enforces the rules, " +
			"and save it through a repository that checks the version (optimistic concurrency) in the database tables. " +
			"Queries from the retrieve API never load an aggregate: the read model selects DTOs shaped for each screen from views " +
			"in the same database."),
		Flows: []stageview.Flow{
			{Name: stageview.FlowCommand, Words: "commands", When: []string{stageview.Commands}},
			{Name: stageview.FlowQuery, Words: "queries", When: []string{stageview.Queries}},
		},
	}
}
