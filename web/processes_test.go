package web

import (
	"strings"
	"testing"
)

func TestProcessesPanelDrawsEachRoleWithItsProcesses(t *testing.T) {
	doc := render(t, ProcessesPanelView(ProcessesPanel{
		URL: "/architecture/processes", Count: 3,
		Roles: []ProcessRole{
			{Role: "web", Processes: []ProcessView{
				{ID: "a", Addr: "127.0.0.1:8081", Roles: "web", Stage: "stage 3", Rates: "12.0 requests/s"},
				{ID: "b", Addr: "127.0.0.1:8082", Roles: "web", Stage: "stage 3", Rates: "idle"},
			}},
			{Role: "commands", Processes: []ProcessView{{ID: "c", Addr: "127.0.0.1:8181", Roles: "commands, relay", Rates: "idle"}}},
			{Role: "relay", Processes: []ProcessView{{ID: "c", Addr: "127.0.0.1:8181", Roles: "commands, relay", Rates: "idle"}}},
			{Role: "projector"},
		},
	}))
	panel := byTestID(doc, "processes-panel")
	if url, _ := panel.Attr("hx-get"); url != "/architecture/processes" {
		t.Errorf("the panel polls %q", url)
	}
	if n, _ := panel.Attr("data-count"); n != "3" {
		t.Errorf("data-count = %q, want 3", n)
	}
	assertTestIDCount(t, doc, "processes-role", 4)
	if got := doc.Find(`[data-role="web"] [data-testid="process"]`).Length(); got != 2 {
		t.Errorf("web lists %d processes, want 2", got)
	}
	if got := doc.Find(`[data-role="web"] [data-testid="process-rates"]`).First().Text(); got != "12.0 requests/s" {
		t.Errorf("the first web process's rates read %q", got)
	}
	if got := doc.Find(`[data-role="projector"] [data-testid="processes-none"]`).Length(); got != 1 {
		t.Errorf("an empty role shows %d 'none running' notes, want 1", got)
	}
	if got := doc.Find(`[data-role="relay"]`).Text(); !contains(got, "roles commands, relay") {
		t.Errorf("a process with several roles does not say them: %q", got)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
