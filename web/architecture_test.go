package web

import (
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// testArchitecture is a small two-box diagram with every feature the template draws: a
// database cylinder, a dashed box, a labelled and a dashed arrow.
func testArchitecture(stage, active int) Architecture {
	return Architecture{
		Stage: stage, Active: active, Name: "Separate models", Changed: "The model splits too.",
		Package: "stages/stage2", PackageURL: "/architecture/source?path=stages%2Fstage2%2F", Available: true,
		Tabs: []ArchitectureTab{
			{Number: 0, Label: "CRUD", URL: "/architecture?stage=0", Available: true, Current: stage == 0, Active: active == 0},
			{Number: 1, Label: "Separate APIs", URL: "/architecture?stage=1", Available: true, Current: stage == 1, Active: active == 1},
			{Number: 2, Label: "Separate models", URL: "/architecture?stage=2", Available: true, Current: stage == 2, Active: active == 2},
			{Number: 3, Label: "Separate databases", URL: "/architecture?stage=3", Current: stage == 3, Active: active == 3},
		},
		Diagram: Diagram{
			Stage: stage, Width: 400, Height: 300, Title: "Stage 2 · Separate models: architecture", Desc: "The API calls the database.",
			Boxes: []DiagramBox{
				{Component: "modify-api", Kind: "api", X: 10, Y: 10, W: 200, H: 60, Text: []DiagramText{{X: 110, Y: 35, Text: "Modify API"}, {X: 110, Y: 52, Text: "/api/commands"}}},
				{Component: "command-bus", Kind: "bus", X: 220, Y: 10, W: 170, H: 60, Dashed: true, Text: []DiagramText{{X: 305, Y: 40, Text: "Command bus"}}},
				{Component: "write-db", Kind: "db", X: 10, Y: 200, W: 200, H: 60, Text: []DiagramText{{X: 110, Y: 235, Text: hostileName}}},
			},
			Arrows: []DiagramArrow{
				{Kind: "command", Points: []DiagramPoint{{110, 70}, {110, 198}}, Label: "save", LabelX: 119, LabelY: 130, LabelAnchor: "start"},
				{Kind: "command", Points: []DiagramPoint{{210, 40}, {218, 40}}, Dashed: true},
			},
		},
	}
}

func TestArchitecturePage(t *testing.T) {
	t.Run("draws_the_diagram_as_accessible_inline_svg", func(t *testing.T) {
		doc := render(t, ArchitecturePage(testChrome(), testArchitecture(2, 2)))
		svg := byTestID(doc, "diagram")
		if svg.Length() != 1 || svg.Get(0).Data != "svg" {
			t.Fatalf("want one <svg data-testid=diagram>, got %d", svg.Length())
		}
		assertAttr(t, svg, "data-stage", "2")
		assertAttr(t, svg, "role", "img")
		assertAttr(t, svg, "viewBox", "0 0 400 300")
		assertAttr(t, svg, "width", "100%")
		labelled, _ := svg.Attr("aria-labelledby")
		ids := strings.Fields(labelled)
		if len(ids) != 2 {
			t.Fatalf("aria-labelledby = %q, want a title and a desc", labelled)
		}
		assertText(t, svg.Find("title#"+ids[0]), "Stage 2 · Separate models: architecture")
		assertText(t, svg.Find("desc#"+ids[1]), "The API calls the database.")
		assertCount(t, doc, "img", 0)

		boxes := byTestID(doc, "diagram-box")
		if boxes.Length() != 3 {
			t.Fatalf("boxes: %d, want 3", boxes.Length())
		}
		var comps []string
		boxes.Each(func(_ int, s *goquery.Selection) { comps = append(comps, s.AttrOr("data-component", "")) })
		if got := strings.Join(comps, ","); got != "modify-api,command-bus,write-db" {
			t.Errorf("components = %s", got)
		}
		api := doc.Find(`[data-component="modify-api"]`)
		assertAttr(t, api.Find("rect"), "x", "10")
		assertAttr(t, api.Find("rect"), "width", "200")
		assertText(t, api.Find("text.box-title"), "Modify API")
		assertText(t, api.Find("text.box-text"), "/api/commands")
		if !doc.Find(`[data-component="command-bus"]`).HasClass("box-dashed") {
			t.Error("the dashed box has no box-dashed class")
		}
		db := doc.Find(`[data-component="write-db"]`)
		if db.Find("rect").Length() != 0 || db.Find("path").Length() != 2 {
			t.Error("a database is not drawn as a cylinder")
		}
		assertText(t, db.Find("text"), hostileName)

		arrows := byTestID(doc, "diagram-arrow")
		if arrows.Length() != 2 {
			t.Fatalf("arrows: %d, want 2", arrows.Length())
		}
		first := arrows.First()
		assertAttr(t, first.Find("polyline"), "points", "110,70 110,198")
		assertText(t, first.Find("text"), "save")
		assertAttr(t, first.Find("text"), "text-anchor", "start")
		if !arrows.Eq(1).HasClass("arrow-dashed") || arrows.Eq(1).Find("text").Length() != 0 {
			t.Error("second arrow: want dashed, without a label")
		}
		// Every arrowhead an arrow refers to is defined.
		arrows.Find("polyline").Each(func(_ int, s *goquery.Selection) {
			ref := s.AttrOr("marker-end", "")
			id := strings.TrimSuffix(strings.TrimPrefix(ref, "url(#"), ")")
			if id == ref || doc.Find("marker#"+id).Length() != 1 {
				t.Errorf("marker-end %q: no such marker", ref)
			}
		})
		assertCSPSafe(t, doc)
	})

	t.Run("aside_names_the_stage_and_links_its_package", func(t *testing.T) {
		doc := render(t, ArchitecturePage(testChrome(), testArchitecture(2, 2)))
		assertText(t, byTestID(doc, "arch-stage-name"), "Stage 2 · Separate models")
		assertText(t, byTestID(doc, "arch-changed"), "The model splits too.")
		link := byTestID(doc, "package-link")
		assertText(t, link, "stages/stage2")
		assertAttr(t, link, "href", "/architecture/source?path=stages%2Fstage2%2F")
		assertTestIDCount(t, doc, "package-path", 0)
		assertTestIDCount(t, doc, "legend-item", 5)
		for _, kind := range []string{"command", "query", "event"} {
			if doc.Find(`[data-testid="legend-item"][data-kind="`+kind+`"]`).Length() == 0 {
				t.Errorf("legend has no %s entry", kind)
			}
		}
		assertCSPSafe(t, doc)
	})

	t.Run("without_source_the_package_is_text", func(t *testing.T) {
		a := testArchitecture(2, 2)
		a.PackageURL = ""
		doc := render(t, ArchitecturePage(testChrome(), a))
		assertTestIDCount(t, doc, "package-link", 0)
		assertText(t, byTestID(doc, "package-path"), "stages/stage2")
		if doc.Find(`a[href*="/architecture/source"]`).Length() != 0 {
			t.Error("a source link is shown without source")
		}
	})

	t.Run("tabs_link_every_stage", func(t *testing.T) {
		doc := render(t, ArchitecturePage(testChrome(), testArchitecture(3, 1)))
		tabs := byTestID(doc, "stage-tab")
		if tabs.Length() != 4 {
			t.Fatalf("tabs: %d, want 4", tabs.Length())
		}
		for i := range 4 {
			assertAttr(t, tabs.Eq(i), "href", "/architecture?stage="+string(rune('0'+i)))
		}
		assertAttr(t, doc.Find(`[data-testid="stage-tab"][aria-current="page"]`), "data-stage", "3")
		assertCount(t, doc, `[aria-current="page"][data-testid="stage-tab"]`, 1)
		assertCount(t, doc, `[data-testid="stage-tab"] [data-testid="active-tag"]`, 1)
		assertAttr(t, byTestID(doc, "active-tag").Parent(), "data-stage", "1")
		if !tabs.Eq(3).HasClass("arch-tab-unavailable") {
			t.Error("the tab of a stage not built is not marked")
		}
	})

	t.Run("preview_says_which_stage_is_active", func(t *testing.T) {
		doc := render(t, ArchitecturePage(testChrome(), testArchitecture(3, 1)))
		notice := byTestID(doc, "preview-notice")
		if notice.Length() != 1 {
			t.Fatal("no preview notice")
		}
		text := strings.Join(strings.Fields(notice.Text()), " ")
		if !strings.Contains(strings.ToLower(text), "preview — stage 1 is active") {
			t.Errorf("notice = %q", text)
		}
		if !strings.Contains(text, "stage switcher") {
			t.Errorf("notice does not point at the switcher: %q", text)
		}

		a := testArchitecture(3, 1)
		a.Available = false
		text = byTestID(render(t, ArchitecturePage(testChrome(), a)), "preview-notice").Text()
		if !strings.Contains(text, "does not include stage 3") {
			t.Errorf("notice for a stage not built = %q", text)
		}

		assertTestIDCount(t, render(t, ArchitecturePage(testChrome(), testArchitecture(1, 1))), "preview-notice", 0)
	})
}

func TestSourcePages(t *testing.T) {
	t.Run("listing_links_each_file", func(t *testing.T) {
		d := SourceDir{Path: "stages/stage2", Stage: 2, Files: []SourceLink{
			{Path: "command/handlers.go", URL: "/architecture/source?path=stages%2Fstage2%2Fcommand%2Fhandlers.go"},
			{Path: "stage.go", URL: "/architecture/source?path=stages%2Fstage2%2Fstage.go"},
		}}
		doc := render(t, SourceDirPage(testChrome(), d))
		assertText(t, byTestID(doc, "source-dir"), "stages/stage2")
		links := byTestID(doc, "source-file-link")
		if links.Length() != 2 {
			t.Fatalf("links: %d, want 2", links.Length())
		}
		assertText(t, links.First(), "command/handlers.go")
		assertAttr(t, links.First(), "href", "/architecture/source?path=stages%2Fstage2%2Fcommand%2Fhandlers.go")
		assertAttr(t, byTestID(doc, "back-to-architecture"), "href", "/architecture?stage=2")
		assertCSPSafe(t, doc)

		empty := render(t, SourceDirPage(testChrome(), SourceDir{Path: "stages/x", Stage: -1}))
		assertTestIDCount(t, empty, "no-source-files", 1)
		assertAttr(t, byTestID(empty, "back-to-architecture"), "href", "/architecture")
	})

	t.Run("file_is_escaped_text", func(t *testing.T) {
		content := "package x\n\n// </code></pre><script>alert(1)</script>\nfunc f() {}\n"
		f := SourceFile{Path: "stages/stage2/x.go", Dir: "stages/stage2", DirURL: "/architecture/source?path=stages%2Fstage2%2F", Stage: 2, Content: content}
		doc := render(t, SourceFilePage(testChrome(), f))
		code := byTestID(doc, "source-code").Find("code")
		if code.Text() != content {
			t.Errorf("code = %q, want the file as text", code.Text())
		}
		assertCount(t, doc, "pre script", 0)
		assertText(t, byTestID(doc, "source-path"), "stages/stage2/x.go")
		assertAttr(t, byTestID(doc, "back-to-dir"), "href", f.DirURL)
		assertCSPSafe(t, doc)
	})
}
