package bff

import (
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/web"
)

// maxSourceSize bounds the size of a source file the architecture page shows.
const maxSourceSize = 1 << 20

// architecturePage shows the active stage's diagram, or with ?stage=N a preview of stage N's.
func (s *Server) architecturePage(c *fiber.Ctx) error {
	active, _ := s.stage(c)
	n := active
	if q := c.Query("stage"); q != "" {
		k, err := strconv.Atoi(q)
		if err != nil || k < 0 || k >= len(Infos) {
			return fiber.NewError(http.StatusNotFound, "There is no stage "+strconv.Quote(q)+"; the stages are 0 to "+strconv.Itoa(len(Infos)-1)+".")
		}
		n = k
	}
	a := s.architecture(n, active)
	s.rebuildPanel(c, &a)
	a.Live = s.livePanel(c.UserContext(), n, active, nil)
	title := "Architecture"
	if n != active {
		title = "Architecture · stage " + strconv.Itoa(n) + " preview"
	}
	return s.render(c, http.StatusOK, web.ArchitecturePage(s.chrome(c, title, "architecture"), a))
}

// architecture builds the page's view model for stage n while stage active runs.
func (s *Server) architecture(n, active int) web.Architecture {
	info := Infos[n]
	available := map[int]bool{}
	for _, k := range s.cfg.Switch.Numbers() {
		available[k] = true
	}
	a := web.Architecture{
		Stage: n, Active: active, Name: info.Name, Changed: info.Changed, Package: info.Package,
		Available: available[n], Diagram: Diagram(n),
	}
	if s.cfg.Source != nil {
		if st, err := fs.Stat(s.cfg.Source, info.Package); err == nil && st.IsDir() {
			a.PackageURL = sourceURL(info.Package + "/")
		}
	}
	for _, in := range Infos {
		u := "/architecture?stage=" + strconv.Itoa(in.Number)
		if in.Number == active {
			u = "/architecture"
		}
		a.Tabs = append(a.Tabs, web.ArchitectureTab{
			Number: in.Number, Label: in.Name, URL: u,
			Current: in.Number == n, Active: in.Number == active, Available: available[in.Number],
		})
	}
	return a
}

func sourceURL(p string) string {
	return "/architecture/source?path=" + url.QueryEscape(p)
}

// sourcePage lists a stage package's Go files, or shows one file. The path
// must be a clean relative path under stages/ that exists in Config.Source.
func (s *Server) sourcePage(c *fiber.Ctx) error {
	if s.cfg.Source == nil {
		return fiber.ErrNotFound
	}
	p, ok := cleanSourcePath(c.Query("path"))
	if !ok {
		return fiber.ErrNotFound
	}
	st, err := fs.Stat(s.cfg.Source, p)
	if err != nil {
		return fiber.ErrNotFound
	}
	if strings.HasSuffix(c.Query("path"), "/") && !st.IsDir() {
		return fiber.ErrNotFound
	}
	stage := stageOfPath(p)
	if st.IsDir() {
		d := web.SourceDir{Path: p, Stage: stage}
		err := fs.WalkDir(s.cfg.Source, p, func(f string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.Type().IsRegular() && strings.HasSuffix(f, ".go") && !strings.HasSuffix(f, "_test.go") {
				d.Files = append(d.Files, web.SourceLink{Path: strings.TrimPrefix(f, p+"/"), URL: sourceURL(f)})
			}
			return nil
		})
		if err != nil {
			return err
		}
		sort.Slice(d.Files, func(i, j int) bool { return d.Files[i].Path < d.Files[j].Path })
		return s.render(c, http.StatusOK, web.SourceDirPage(s.chrome(c, p, "architecture"), d))
	}
	if !st.Mode().IsRegular() || st.Size() > maxSourceSize {
		return fiber.ErrNotFound
	}
	b, err := fs.ReadFile(s.cfg.Source, p)
	if err != nil {
		return fiber.ErrNotFound
	}
	dir := path.Dir(p)
	if stage >= 0 {
		// Link the stage's package, not a sub-package, so one click lists it all.
		dir = Infos[stage].Package
	}
	f := web.SourceFile{Path: p, Dir: dir, DirURL: sourceURL(dir + "/"), Stage: stage, Content: string(b)}
	return s.render(c, http.StatusOK, web.SourceFilePage(s.chrome(c, path.Base(p), "architecture"), f))
}

// cleanSourcePath checks a path asked for by the source page: relative,
// clean (a trailing slash is allowed), under stages/ and without "..".
func cleanSourcePath(p string) (string, bool) {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || strings.Contains(p, "\x00") {
		return "", false
	}
	for _, part := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
		if part == ".." {
			return "", false
		}
	}
	clean := path.Clean(p)
	if clean != strings.TrimSuffix(p, "/") || !fs.ValidPath(clean) || !strings.HasPrefix(clean, "stages/") {
		return "", false
	}
	return clean, true
}

// stageOfPath returns the stage whose package holds p, or -1.
func stageOfPath(p string) int {
	for _, in := range Infos {
		if p == in.Package || strings.HasPrefix(p, in.Package+"/") {
			return in.Number
		}
	}
	return -1
}

// The diagrams are laid out on a grid in a 960-wide space: three columns
// (write side, middle, read side) and rows of boxes, top to bottom from the
// browser to the databases.
const (
	diagramWidth = 960
	boxH         = 66
	rowPitch     = 114
	topMargin    = 20
)

type column struct{ x, w int }

func (c column) mid() int { return c.x + c.w/2 }

var (
	colLeft   = column{20, 270}
	colMiddle = column{345, 270}
	colRight  = column{670, 270}
	colFull   = column{20, 920}
	colCenter = column{290, 380}
)

func rowY(r int) int { return topMargin + r*rowPitch }

type diagramBuilder struct {
	d web.Diagram
	// flow, when set, is the live flow of the arrows drawn next, instead
	// of the one their kind gives (arrowFlow).
	flow string
}

// box adds a box in column c and row r; lines are its name and up to two
// lines of detail.
func (b *diagramBuilder) box(component, kind string, c column, r int, lines ...string) web.DiagramBox {
	bx := web.DiagramBox{Component: component, Kind: kind, X: c.x, Y: rowY(r), W: c.w, H: boxH, Flow: boxFlows[component]}
	sub := len(lines) - 1
	top := bx.Y + (boxH-(17+16*sub))/2
	if kind == "db" {
		top += 4 // below the cylinder's rim
	}
	y := top + 13
	for i, l := range lines {
		bx.Text = append(bx.Text, web.DiagramText{X: c.mid(), Y: y, Text: l})
		if i == 0 {
			y += 18
		} else {
			y += 15
		}
	}
	b.d.Boxes = append(b.d.Boxes, bx)
	if end := bx.Y + bx.H + topMargin; end > b.d.Height {
		b.d.Height = end
	}
	return bx
}

func (b *diagramBuilder) dashed(bx web.DiagramBox) {
	for i := range b.d.Boxes {
		if b.d.Boxes[i].Component == bx.Component {
			b.d.Boxes[i].Dashed = true
		}
	}
}

// down draws an arrow at x from the bottom of from to the top of to, with
// its label to the right of the line.
func (b *diagramBuilder) down(kind string, x int, from, to web.DiagramBox, label string) {
	y1, y2 := from.Y+from.H, to.Y-2
	b.arrow(web.DiagramArrow{Kind: kind, Points: pts(x, y1, x, y2), Label: label, LabelX: x + 9, LabelY: (y1+y2)/2 + 4, LabelAnchor: "start"})
}

// up draws an arrow at x from the top of from to the bottom of to.
func (b *diagramBuilder) up(kind string, x int, from, to web.DiagramBox, label string) {
	y1, y2 := from.Y, to.Y+to.H+2
	b.arrow(web.DiagramArrow{Kind: kind, Points: pts(x, y1, x, y2), Label: label, LabelX: x + 9, LabelY: (y1+y2)/2 + 4, LabelAnchor: "start"})
}

// across draws a horizontal arrow at height y between two boxes side by
// side, with its label above the line.
func (b *diagramBuilder) across(kind string, y int, from, to web.DiagramBox, label string, dashed bool) {
	x1, x2 := from.X+from.W, to.X-2
	if to.X < from.X {
		x1, x2 = from.X, to.X+to.W+2
	}
	b.arrow(web.DiagramArrow{Kind: kind, Points: pts(x1, y, x2, y), Dashed: dashed, Label: label, LabelX: (x1 + x2) / 2, LabelY: y - 8, LabelAnchor: "middle"})
}

// elbow draws an arrow down from the bottom of from at x, then sideways
// into the side of to at its middle height.
func (b *diagramBuilder) elbow(kind string, x int, from, to web.DiagramBox, label string) {
	y1, ym := from.Y+from.H, to.Y+to.H/2
	x2 := to.X - 2
	if x > to.X+to.W {
		x2 = to.X + to.W + 2
	}
	b.arrow(web.DiagramArrow{Kind: kind, Points: []web.DiagramPoint{{X: x, Y: y1}, {X: x, Y: ym}, {X: x2, Y: ym}}, Label: label, LabelX: x + 9, LabelY: y1 + 24, LabelAnchor: "start"})
}

func (b *diagramBuilder) arrow(a web.DiagramArrow) {
	if a.Flow == "" {
		a.Flow = b.flow
	}
	if a.Flow == "" {
		a.Flow = arrowFlow[a.Kind]
	}
	b.d.Arrows = append(b.d.Arrows, a)
}

// arrowFlow is the live flow (live.go) an arrow of each kind carries
// unless the builder says otherwise.
var arrowFlow = map[string]string{"command": flowCommand, "query": flowQuery, "mixed": flowCommand + " " + flowQuery}

// boxFlows are the live flows that pass through each component; stage 3
// overrides the write side's (Diagram).
var boxFlows = map[string]string{
	"browser": flowCommand + " " + flowQuery, "bff": flowCommand + " " + flowQuery,
	"rest-api": flowCommand + " " + flowQuery, "crud-service": flowCommand + " " + flowQuery,
	"row-model": flowCommand + " " + flowQuery, "write-db": flowCommand + " " + flowQuery,
	"bff-command-client": flowCommand, "modify-api": flowCommand, "write-model": flowCommand,
	"bff-query-client": flowQuery, "retrieve-api": flowQuery, "read-model": flowQuery,
	"command-bus": flowCommandBus, "command-handler": flowCommandBus,
	"read-db": flowQuery + " " + flowProject, "outbox-relay": flowRelay,
	"event-bus": flowRelay + " " + flowProject, "projector": flowProject,
}

// setFlow sets the live flows of the box of component.
func (b *diagramBuilder) setFlow(component, flow string) {
	for i := range b.d.Boxes {
		if b.d.Boxes[i].Component == component {
			b.d.Boxes[i].Flow = flow
		}
	}
}

func pts(x1, y1, x2, y2 int) []web.DiagramPoint {
	return []web.DiagramPoint{{X: x1, Y: y1}, {X: x2, Y: y2}}
}

func midY(bx web.DiagramBox) int { return bx.Y + bx.H/2 }

// Diagram draws stage n's architecture: components as boxes and the calls
// between them as arrows, commands, queries and events apart.
func Diagram(n int) web.Diagram {
	b := &diagramBuilder{d: web.Diagram{Stage: n, Width: diagramWidth}}
	if n >= 0 && n < len(Infos) {
		b.d.Title = "Stage " + strconv.Itoa(n) + " · " + Infos[n].Name + ": architecture"
	}
	switch n {
	case 0:
		browser := b.box("browser", "ui", colCenter, 0, "Browser / UI", "orders, dashboard, forms (htmx)")
		bff := b.box("bff", "ui", colCenter, 1, "BFF", "pages and fragments, one client")
		api := b.box("rest-api", "api", colCenter, 2, "REST API", "/api/orders · GET POST PUT DELETE")
		svc := b.box("crud-service", "worker", colCenter, 3, "CRUD service", "update returns the updated order")
		model := b.box("row-model", "model", colCenter, 4, "Order row model", "the table row is the model")
		db := b.box("write-db", "db", colCenter, 5, "Write DB", "orders")
		x := colCenter.mid()
		b.down("mixed", x, browser, bff, "read + write")
		b.down("mixed", x, bff, api, "read + write")
		b.down("mixed", x, api, svc, "read + write")
		b.down("mixed", x, svc, model, "read + write")
		b.down("mixed", x, model, db, "read + write")
		b.d.Desc = "One path for everything. The browser talks to the BFF, which calls one REST API, /api/orders. " +
			"The API calls a CRUD service whose operations may read and write at once; the service works on the order row model, " +
			"which is the row of the orders table in the write database. Every arrow carries reads and writes."
	case 1:
		browser, cmd, qry, modify, retrieve := splitTop(b)
		model := b.box("row-model", "model", colMiddle, 3, "Order row model", "stage 0's model, shared")
		db := b.box("write-db", "db", colMiddle, 4, "Write DB", "orders")
		b.down("command", colLeft.mid(), browser, cmd, "commands")
		b.down("query", colRight.mid(), browser, qry, "queries")
		b.down("command", colLeft.mid(), cmd, modify, "commands (ack/nak + version)")
		b.down("query", colRight.mid(), qry, retrieve, "queries")
		b.elbow("command", colLeft.mid(), modify, model, "commands")
		b.elbow("query", colRight.mid(), retrieve, model, "queries")
		b.down("mixed", colMiddle.mid(), model, db, "read + write")
		b.d.Desc = "The API splits in two. The browser's forms go through the BFF's command client to the modify API, /api/commands, " +
			"whose commands answer only ack or nak with the order's new version. Pages go through the BFF's query client to the retrieve API, " +
			"/api/queries, whose queries change nothing. Both APIs still use the same order row model over the same write database."
	case 2:
		browser, cmd, qry, modify, retrieve := splitTop(b)
		write := b.box("write-model", "model", colLeft, 3, "Write model", "Order aggregate + repository", "(optimistic version)")
		read := b.box("read-model", "model", colRight, 3, "Read model", "DTO queries over views")
		db := b.box("write-db", "db", colMiddle, 4, "Write DB", "orders tables + read views")
		b.down("command", colLeft.mid(), browser, cmd, "commands")
		b.down("query", colRight.mid(), browser, qry, "queries")
		b.down("command", colLeft.mid(), cmd, modify, "commands (ack/nak + version)")
		b.down("query", colRight.mid(), qry, retrieve, "queries")
		b.down("command", colLeft.mid(), modify, write, "commands")
		b.down("query", colRight.mid(), retrieve, read, "queries")
		b.elbow("command", colLeft.mid(), write, db, "load + save, version check")
		b.elbow("query", colRight.mid(), read, db, "select from views")
		b.d.Desc = "The models split too. Commands from the modify API load the order aggregate, which enforces the rules, " +
			"and save it through a repository that checks the version (optimistic concurrency) in the database tables. " +
			"Queries from the retrieve API never load an aggregate: the read model selects DTOs shaped for each screen from views " +
			"in the same database."
	case 3:
		browser, cmd, qry, modify, retrieve := splitTop(b)
		bus := b.box("command-bus", "bus", colMiddle, 2, "Command bus", "NATS JetStream (optional)")
		handler := b.box("command-handler", "worker", colMiddle, 3, "Command handler", "at the pace the DB sustains")
		b.dashed(bus)
		b.dashed(handler)
		// Writes reach the write model from the modify API (sync) or the
		// command handler (async); the relay reads the write database too.
		b.setFlow("write-model", flowWrite)
		b.setFlow("write-db", flowWrite+" "+flowRelay)
		write := b.box("write-model", "model", colLeft, 3, "Write model", "Order aggregate + repository", "(optimistic version)")
		read := b.box("read-model", "model", colRight, 3, "Read model", "DTO queries over read tables")
		wdb := b.box("write-db", "db", colLeft, 4, "Write DB", "orders + change log", "(same transaction)")
		rdb := b.box("read-db", "db", colRight, 4, "Read DB", "denormalized tables")
		relay := b.box("outbox-relay", "worker", colLeft, 5, "Outbox relay / forwarder", "change log → event bus")
		events := b.box("event-bus", "bus", colMiddle, 5, "Event bus", "NATS JetStream")
		proj := b.box("projector", "worker", colRight, 5, "Projector", "idempotent, in version order")
		b.down("command", colLeft.mid(), browser, cmd, "commands")
		b.down("query", colRight.mid(), browser, qry, "queries")
		b.down("command", colLeft.mid(), cmd, modify, "commands (ack/nak + version)")
		b.down("query", colRight.mid(), qry, retrieve, "queries")
		b.flow = flowCommandSync
		b.down("command", colLeft.mid(), modify, write, "commands (sync)")
		b.flow = flowCommandBus
		b.across("command", midY(modify), modify, bus, "", true)
		b.arrow(web.DiagramArrow{
			Kind: "command", Dashed: true, Points: pts(colMiddle.mid(), bus.Y+bus.H, colMiddle.mid(), handler.Y-2),
			Label: "--command-bus=async", LabelX: colMiddle.mid() + 9, LabelY: (bus.Y+bus.H+handler.Y)/2 + 4, LabelAnchor: "start",
		})
		b.across("command", midY(handler), handler, write, "", true)
		b.flow = ""
		b.down("query", colRight.mid(), retrieve, read, "queries")
		b.flow = flowWrite
		b.down("command", colLeft.mid(), write, wdb, "save + append events")
		b.flow = ""
		b.down("query", colRight.mid(), read, rdb, "select")
		b.flow = flowRelay
		b.down("event", colLeft.mid(), wdb, relay, "change log")
		b.across("event", midY(relay), relay, events, "events", false)
		b.flow = flowProject
		b.across("event", midY(events), events, proj, "events", false)
		b.up("event", colRight.mid(), proj, rdb, "upsert by version")
		b.flow = ""
		b.d.Desc = "The read side gets its own database. Commands from the modify API reach the write model directly, or with " +
			"--command-bus=async through a command bus (NATS JetStream) and a command handler. The write model saves the order " +
			"and appends its events to a change log in the write database in the same transaction. An outbox relay forwards " +
			"the change log to the event bus (NATS JetStream); a projector applies the events, in version order, to denormalized " +
			"tables in the read database. Queries from the retrieve API read only the read database, through the read model."
	}
	return b.d
}

// splitTop draws the rows stages 1 to 3 share: the browser, the BFF's
// command and query clients, and the modify and retrieve APIs.
func splitTop(b *diagramBuilder) (browser, cmd, qry, modify, retrieve web.DiagramBox) {
	browser = b.box("browser", "ui", colFull, 0, "Browser / UI", "orders, dashboard, forms (htmx)")
	cmd = b.box("bff-command-client", "ui", colLeft, 1, "BFF · command client", "forms post commands")
	qry = b.box("bff-query-client", "ui", colRight, 1, "BFF · query client", "pages run queries")
	modify = b.box("modify-api", "api", colLeft, 2, "Modify API", "/api/commands")
	retrieve = b.box("retrieve-api", "api", colRight, 2, "Retrieve API", "/api/queries")
	return browser, cmd, qry, modify, retrieve
}
