package bff

import (
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/PuerkitoBio/goquery"
	"github.com/gofiber/fiber/v2"
)

// fakeStage is a stage that serves no API; the architecture page never calls it.
type fakeStage struct{ Stage }

func (fakeStage) Routes(fiber.Router) {}

var testSource = fstest.MapFS{
	"stages/stage0/api.go":                {Data: []byte("package stage0\n")},
	"stages/stage2/stage.go":              {Data: []byte("package stage2\n\n// a < b && c > d </code><script>x</script>\n")},
	"stages/stage2/stage_test.go":         {Data: []byte("package stage2\n")},
	"stages/stage2/doc.go":                {Data: []byte("// Package stage2.\npackage stage2\n")},
	"stages/stage2/command/handlers.go":   {Data: []byte("package command\n")},
	"stages/stage2/command/notes.md":      {Data: []byte("notes\n")},
	"stages/stage2/internal/testdb/db.go": {Data: []byte("package testdb\n")},
	"go.mod":                              {Data: []byte("module secret\n")},
}

// newTestServer runs stages 0 to 2 with stage active, reading source from src.
func newTestServer(t *testing.T, active int, src fs.FS) *Server {
	t.Helper()
	sw, err := NewSwitch(map[int]Stage{0: fakeStage{}, 1: fakeStage{}, 2: fakeStage{}}, active)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(testConfig(Config{Switch: sw, Descriptions: Infos, Source: src, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func get(t *testing.T, s *Server, target string) (int, *goquery.Document) {
	t.Helper()
	resp, err := s.App().Test(httptest.NewRequest(http.MethodGet, target, nil), -1)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: parse: %v", target, err)
	}
	return resp.StatusCode, doc
}

func components(doc *goquery.Document) []string {
	var out []string
	doc.Find(`[data-testid="diagram-box"]`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, s.AttrOr("data-component", ""))
	})
	return out
}

func TestArchitecturePage(t *testing.T) {
	s := newTestServer(t, 1, testSource)

	want := map[int]struct{ has, hasNot []string }{
		0: {has: []string{"browser", "bff", "rest-api", "crud-service", "row-model", "write-db"}, hasNot: []string{"event-bus", "read-db", "modify-api", "retrieve-api"}},
		1: {has: []string{"bff-command-client", "bff-query-client", "modify-api", "retrieve-api", "row-model", "write-db"}, hasNot: []string{"rest-api", "write-model", "read-db", "event-bus"}},
		2: {has: []string{"modify-api", "retrieve-api", "write-model", "read-model", "write-db"}, hasNot: []string{"row-model", "read-db", "event-bus"}},
		3: {has: []string{"modify-api", "command-bus", "command-handler", "write-model", "write-db", "outbox-relay", "event-bus", "projector", "read-db", "read-model", "retrieve-api"}, hasNot: []string{"row-model", "rest-api"}},
	}
	texts := map[int][]string{
		0: {"REST API", "/api/orders", "CRUD service", "Order row model", "Write DB", "read + write"},
		1: {"/api/commands", "/api/queries", "commands (ack/nak + version)", "queries"},
		2: {"Order aggregate + repository", "(optimistic version)", "DTO queries over views"},
		3: {"Event bus", "Read DB", "Projector", "Outbox relay / forwarder", "(same transaction)", "denormalized tables", "--command-bus=async"},
	}
	for n := range 4 {
		t.Run("stage_"+strconv.Itoa(n), func(t *testing.T) {
			status, doc := get(t, s, "/architecture?stage="+strconv.Itoa(n))
			if status != http.StatusOK {
				t.Fatalf("status %d", status)
			}
			svg := doc.Find(`svg[data-testid="diagram"]`)
			if svg.Length() != 1 || svg.AttrOr("data-stage", "") != strconv.Itoa(n) {
				t.Fatalf("want one diagram of stage %d", n)
			}
			got := components(doc)
			for _, c := range want[n].has {
				if !slices.Contains(got, c) {
					t.Errorf("no %s in %v", c, got)
				}
			}
			for _, c := range want[n].hasNot {
				if slices.Contains(got, c) {
					t.Errorf("%s should not be in stage %d", c, n)
				}
			}
			text := svg.Text()
			for _, w := range texts[n] {
				if !strings.Contains(text, w) {
					t.Errorf("diagram text has no %q", w)
				}
			}
			if n == 0 && (strings.Contains(text, "Event bus") || strings.Contains(text, "Read DB")) {
				t.Error("stage 0 shows an event bus or a read database")
			}
			if got := doc.Find(`[data-testid="stage-tab"]`).Length(); got != 4 {
				t.Errorf("tabs: %d, want 4", got)
			}
			preview := doc.Find(`[data-testid="preview-notice"]`)
			if (preview.Length() == 1) != (n != 1) {
				t.Errorf("preview notice shown = %v, want %v", preview.Length() == 1, n != 1)
			}
			if name := strings.TrimSpace(doc.Find(`[data-testid="arch-stage-name"]`).Text()); name != "Stage "+strconv.Itoa(n)+" · "+Infos[n].Name {
				t.Errorf("stage name = %q", name)
			}
			if changed := doc.Find(`[data-testid="arch-changed"]`).Text(); changed != Infos[n].Changed {
				t.Errorf("changed = %q", changed)
			}
			// The badge and switcher still say the active stage.
			if badge := doc.Find(`[data-testid="stage-badge"]`).Text(); !strings.Contains(badge, "Stage 1") {
				t.Errorf("badge = %q", badge)
			}
			assertNoInlineStyleOrScript(t, doc)
		})
	}

	t.Run("without_query_shows_the_active_stage", func(t *testing.T) {
		status, doc := get(t, s, "/architecture")
		if status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
		if st := doc.Find(`svg[data-testid="diagram"]`).AttrOr("data-stage", ""); st != "1" {
			t.Errorf("data-stage = %s, want the active stage 1", st)
		}
		if doc.Find(`[data-testid="preview-notice"]`).Length() != 0 {
			t.Error("preview notice on the active stage")
		}
		if cur := doc.Find(`[data-testid="nav-architecture"]`).AttrOr("aria-current", ""); cur != "page" {
			t.Error("the Architecture nav link is not current")
		}
	})

	t.Run("unknown_stage_is_404", func(t *testing.T) {
		for _, q := range []string{"4", "-1", "x", "1.0"} {
			if status, _ := get(t, s, "/architecture?stage="+url.QueryEscape(q)); status != http.StatusNotFound {
				t.Errorf("stage=%s: status %d, want 404", q, status)
			}
		}
	})

	t.Run("package_link_when_the_source_has_it", func(t *testing.T) {
		_, doc := get(t, s, "/architecture?stage=2")
		if href := doc.Find(`[data-testid="package-link"]`).AttrOr("href", ""); href != "/architecture/source?path=stages%2Fstage2%2F" {
			t.Errorf("package link = %q", href)
		}
		// Stage 3 is not in the source: its package is text.
		_, doc = get(t, s, "/architecture?stage=3")
		if doc.Find(`[data-testid="package-link"]`).Length() != 0 || strings.TrimSpace(doc.Find(`[data-testid="package-path"]`).Text()) != "stages/stage3" {
			t.Error("stage 3 without source: want its package as text")
		}
	})

	t.Run("no_source_no_links", func(t *testing.T) {
		s := newTestServer(t, 0, nil)
		_, doc := get(t, s, "/architecture")
		if doc.Find(`a[href*="/architecture/source"]`).Length() != 0 {
			t.Error("source link without source")
		}
		if strings.TrimSpace(doc.Find(`[data-testid="package-path"]`).Text()) != "stages/stage0" {
			t.Error("package path not shown")
		}
		if status, _ := get(t, s, "/architecture/source?path=stages%2Fstage0%2F"); status != http.StatusNotFound {
			t.Errorf("source page without source: status %d, want 404", status)
		}
	})
}

func TestSourcePage(t *testing.T) {
	s := newTestServer(t, 2, testSource)

	t.Run("lists_go_files_without_tests_subfolders_included", func(t *testing.T) {
		status, doc := get(t, s, "/architecture/source?path=stages/stage2/")
		if status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
		var files, hrefs []string
		doc.Find(`[data-testid="source-file-link"]`).Each(func(_ int, l *goquery.Selection) {
			files = append(files, strings.TrimSpace(l.Text()))
			hrefs = append(hrefs, l.AttrOr("href", ""))
		})
		want := []string{"command/handlers.go", "doc.go", "internal/testdb/db.go", "stage.go"}
		if !slices.Equal(files, want) {
			t.Errorf("files = %v, want %v", files, want)
		}
		if len(hrefs) > 0 && hrefs[0] != "/architecture/source?path=stages%2Fstage2%2Fcommand%2Fhandlers.go" {
			t.Errorf("href = %q", hrefs[0])
		}
		for _, h := range hrefs {
			if status, _ := get(t, s, h); status != http.StatusOK {
				t.Errorf("%s: status %d", h, status)
			}
		}
		if status, _ := get(t, s, "/architecture/source?path=stages/stage2"); status != http.StatusOK {
			t.Errorf("without trailing slash: status %d", status)
		}
	})

	t.Run("shows_a_file_as_escaped_text", func(t *testing.T) {
		status, doc := get(t, s, "/architecture/source?path=stages/stage2/stage.go")
		if status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
		if got := doc.Find(`[data-testid="source-code"] code`).Text(); got != string(testSource["stages/stage2/stage.go"].Data) {
			t.Errorf("code = %q", got)
		}
		if doc.Find("main script").Length() != 0 {
			t.Error("file content became markup")
		}
		if href := doc.Find(`[data-testid="back-to-dir"]`).AttrOr("href", ""); href != "/architecture/source?path=stages%2Fstage2%2F" {
			t.Errorf("back link = %q", href)
		}
		// A file in a sub-package links back to the stage's package.
		_, doc = get(t, s, "/architecture/source?path=stages/stage2/command/handlers.go")
		if href := doc.Find(`[data-testid="back-to-dir"]`).AttrOr("href", ""); href != "/architecture/source?path=stages%2Fstage2%2F" {
			t.Errorf("back link from a sub-package = %q", href)
		}
		assertNoInlineStyleOrScript(t, doc)
	})

	t.Run("rejects_paths_outside_the_stages", func(t *testing.T) {
		for _, p := range []string{
			"", "go.mod", "/go.mod", "../go.mod", "stages/../go.mod", "stages/stage2/../../go.mod",
			"stages/stage2/../stage0/api.go", "./stages/stage2/stage.go", "stages//stage2/stage.go",
			"stages/stage2/./stage.go", "stages\\stage2\\stage.go", "stages/stage9/", "stages/stage2/nope.go",
			"/etc/passwd", "stages", "stages/", "stagesx/stage2/stage.go", "stages/stage2/stage.go/",
		} {
			if status, _ := get(t, s, "/architecture/source?path="+url.QueryEscape(p)); status != http.StatusNotFound {
				t.Errorf("path %q: status %d, want 404", p, status)
			}
		}
	})
}

func TestCleanSourcePath(t *testing.T) {
	ok := map[string]string{
		"stages/stage2/":          "stages/stage2",
		"stages/stage2":           "stages/stage2",
		"stages/stage2/stage.go":  "stages/stage2/stage.go",
		"stages/stage2/command/":  "stages/stage2/command",
		"stages/stage0/model.go":  "stages/stage0/model.go",
		"stages/stage3/x/y/z.go":  "stages/stage3/x/y/z.go",
		"stages/stage2/a..b.go":   "stages/stage2/a..b.go",
		"stages/stage2/.hidden":   "stages/stage2/.hidden",
		"stages/stage2/..foo/x":   "stages/stage2/..foo/x",
		"stages/stage2/x.go.orig": "stages/stage2/x.go.orig",
	}
	for in, want := range ok {
		if got, valid := cleanSourcePath(in); !valid || got != want {
			t.Errorf("cleanSourcePath(%q) = %q, %v; want %q", in, got, valid, want)
		}
	}
	for _, in := range []string{"", "/", "stages", "stages/", "..", "stages/..", "stages/stage2/..", "a/stages/x", "stages/a//b", "stages/./a", "stages/a\x00b"} {
		if got, valid := cleanSourcePath(in); valid {
			t.Errorf("cleanSourcePath(%q) = %q, want rejected", in, got)
		}
	}
}

// TestDiagramLayout checks every stage's drawing: boxes inside the view and
// apart from each other, arrows inside the view, components named once.
func TestDiagramLayout(t *testing.T) {
	for n := range len(Infos) {
		d := Diagram(n)
		if d.Stage != n || d.Title == "" || d.Desc == "" || d.Width <= 0 || d.Height <= 0 {
			t.Errorf("stage %d: incomplete diagram %+v", n, d)
			continue
		}
		seen := map[string]bool{}
		for i, b := range d.Boxes {
			if seen[b.Component] {
				t.Errorf("stage %d: component %s twice", n, b.Component)
			}
			seen[b.Component] = true
			if !slices.Contains([]string{"ui", "api", "model", "db", "bus", "worker"}, b.Kind) {
				t.Errorf("stage %d: %s has kind %q", n, b.Component, b.Kind)
			}
			if b.X < 0 || b.Y < 0 || b.X+b.W > d.Width || b.Y+b.H > d.Height {
				t.Errorf("stage %d: %s is outside the view", n, b.Component)
			}
			for _, o := range d.Boxes[i+1:] {
				if b.X < o.X+o.W && o.X < b.X+b.W && b.Y < o.Y+o.H && o.Y < b.Y+b.H {
					t.Errorf("stage %d: %s overlaps %s", n, b.Component, o.Component)
				}
			}
			for _, tx := range b.Text {
				if tx.Y <= b.Y || tx.Y >= b.Y+b.H {
					t.Errorf("stage %d: text %q is outside %s", n, tx.Text, b.Component)
				}
			}
		}
		for _, a := range d.Arrows {
			if len(a.Points) < 2 {
				t.Errorf("stage %d: arrow %q has %d points", n, a.Label, len(a.Points))
			}
			if !slices.Contains([]string{"command", "query", "event", "mixed"}, a.Kind) {
				t.Errorf("stage %d: arrow kind %q", n, a.Kind)
			}
			for _, p := range a.Points {
				if p.X < 0 || p.Y < 0 || p.X > d.Width || p.Y > d.Height {
					t.Errorf("stage %d: arrow %q leaves the view at %v", n, a.Label, p)
				}
			}
			// A label must fit: about 7 px per character at 12 px.
			if a.Label != "" && (a.LabelAnchor == "start" && a.LabelX+7*len(a.Label) > d.Width) {
				t.Errorf("stage %d: label %q runs off the view", n, a.Label)
			}
		}
	}
}

func assertNoInlineStyleOrScript(t *testing.T, doc *goquery.Document) {
	t.Helper()
	doc.Find("*").Each(func(_ int, s *goquery.Selection) {
		for _, a := range s.Get(0).Attr {
			if a.Key == "style" || strings.HasPrefix(a.Key, "on") {
				t.Errorf("<%s> has %s", s.Get(0).Data, a.Key)
			}
		}
	})
	doc.Find("script").Each(func(_ int, s *goquery.Selection) {
		if _, ok := s.Attr("src"); !ok || strings.TrimSpace(s.Text()) != "" {
			t.Error("inline script")
		}
	})
	if doc.Find("style").Length() != 0 {
		t.Error("<style> element")
	}
}
