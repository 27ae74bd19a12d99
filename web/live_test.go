package web

import (
	"testing"
)

func testLivePanel() LivePanel {
	return LivePanel{
		URL: "/architecture/live?stage=3&c=5&q=" + hostileName, Stage: 3,
		Flows: []string{"command", "relay"}, FlowText: "Moving: commands, events published.",
		Groups: []LiveGroup{
			{Title: "Requests", Stats: []LiveStat{{Key: "commands", Label: "Commands", Value: "5", Delta: "+2", Detail: "API 3 · UI 2"}}},
			{Title: "Error log", Stats: []LiveStat{{Key: "events-parked", Label: hostileName, Value: "1", Warn: true, URL: "/admin/error-log"}}},
		},
	}
}

func TestLivePanel(t *testing.T) {
	t.Run("polls_itself_and_lists_the_flows_that_moved_without_inline_code", func(t *testing.T) {
		doc := render(t, LivePanelView(testLivePanel()))
		assertCSPSafe(t, doc)
		panel := byTestID(doc, "live-panel")
		assertAttr(t, panel, "hx-get", "/architecture/live?stage=3&c=5&q="+hostileName)
		assertAttr(t, panel, "hx-trigger", "every 2s")
		assertAttr(t, panel, "hx-swap", "outerHTML")
		assertAttr(t, panel, "id", "live-panel")
		assertAttr(t, panel, "data-flows", "command relay")
		if _, live := panel.Attr("aria-live"); live {
			t.Error("the panel is a live region: a screen reader would read it every 2 s")
		}
		assertText(t, byTestID(doc, "live-flow-text"), "Moving: commands, events published.")
		assertTestIDCount(t, doc, "live-stat", 2)
		parked := doc.Find(`[data-key="events-parked"]`)
		if !parked.HasClass("live-stat-warn") {
			t.Error("a parked count is not marked as a warning")
		}
		assertAttr(t, parked.Find("a"), "href", "/admin/error-log")
		assertText(t, doc.Find(`[data-key="commands"] [data-testid="live-delta"]`), "+2")
		assertTestIDCount(t, doc, "live-preview-note", 0)
	})

	t.Run("is_under_the_diagram_whose_arrows_and_boxes_name_their_flows", func(t *testing.T) {
		a := testArchitecture(3, 3)
		a.Diagram.Boxes[0].Flow = "command"
		a.Diagram.Arrows[0].Flow = "command write"
		p := testLivePanel()
		a.Live = &p
		doc := render(t, ArchitecturePage(testChrome(), a))
		assertCSPSafe(t, doc)
		if doc.Find(`.arch-layout [data-testid="live-panel"]`).Length() != 1 {
			t.Error("the live panel is not inside .arch-layout, where app.css matches it against the diagram")
		}
		assertAttr(t, doc.Find(`[data-component="modify-api"]`), "data-flow", "command")
		assertAttr(t, doc.Find(`[data-testid="diagram-arrow"]`).First(), "data-flow", "command write")
		if _, ok := doc.Find(`[data-component="write-db"]`).Attr("data-flow"); ok {
			t.Error("a box without flows has a data-flow attribute")
		}
	})

	t.Run("says_in_a_preview_that_the_numbers_are_the_running_apps", func(t *testing.T) {
		p := testLivePanel()
		p.Preview, p.Flows = true, nil
		doc := render(t, LivePanelView(p))
		assertTestIDCount(t, doc, "live-preview-note", 1)
		assertAttr(t, byTestID(doc, "live-panel"), "data-flows", "")
	})

	t.Run("is_absent_without_a_panel", func(t *testing.T) {
		assertTestIDCount(t, render(t, ArchitecturePage(testChrome(), testArchitecture(2, 2))), "live-panel", 0)
	})
}
