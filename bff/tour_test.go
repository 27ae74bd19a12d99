package bff

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/staircase/staircase/stages"
)

// newTourServer runs stages 0 and 3 (0 active) with the stages' real
// source, and w as the workshop controls when it is not nil.
func newTourServer(t *testing.T, w Workshop, cfg Config) *Server {
	t.Helper()
	cfg.Source = stages.Source()
	return newWorkshopServer(t, w, cfg)
}

func buttons(doc *goquery.Document) []string {
	var out []string
	doc.Find(`[data-testid^="tour-button-"]`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, strings.TrimPrefix(s.AttrOr("data-testid", ""), "tour-button-"))
	})
	return out
}

func TestTheTourHasAPagePerStageWithItsDiagramAndCode(t *testing.T) {
	s := newTourServer(t, nil, Config{})
	if a := call(t, s, http.MethodGet, "/tour", "", ""); a.status != http.StatusSeeOther {
		t.Errorf("/tour: %d", a.status)
	}
	for n := range 4 {
		target := "/tour/" + strconv.Itoa(n)
		status, doc := get(t, s, target)
		if status != http.StatusOK {
			t.Fatalf("%s: %d", target, status)
		}
		if got := doc.Find(`[data-testid="tour-title"]`).Text(); !strings.Contains(got, Infos[n].Name) {
			t.Errorf("%s: title %q", target, got)
		}
		if doc.Find(`[data-testid="tour-why"]`).Length() < 2 || doc.Find(`[data-testid="tour-changed"]`).Text() == "" {
			t.Errorf("%s: no lesson", target)
		}
		if href := doc.Find(`[data-testid="ibm-link"]`).AttrOr("href", ""); !strings.HasPrefix(href, "https://") || !strings.Contains(href, "cqrs") {
			t.Errorf("%s: IBM link %q", target, href)
		}
		if got, want := components(doc), boxesOf(n); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: diagram %v, want stage %d's %v", target, got, n, want)
		}
		if doc.Find(`[data-testid="tour-tab"]`).Length() != 4 || doc.Find(`[data-testid="tour-tab"][aria-current="page"]`).Text() == "" {
			t.Errorf("%s: tabs", target)
		}
		if doc.Find(`[data-testid="tour-file"]`).Length() == 0 {
			t.Errorf("%s: none of the step's files", target)
		}
		if (n > 0) != (doc.Find(`[data-testid="tour-prev"]`).Length() == 1) || (n < 3) != (doc.Find(`[data-testid="tour-next"]`).Length() == 1) {
			t.Errorf("%s: previous and next links", target)
		}
		if doc.Find(`[data-testid="nav-tour"][aria-current="page"]`).Length() != 1 {
			t.Errorf("%s: the header's Tour link is not current", target)
		}
	}
	// Stage 2's step rewrites stage.go: its diff from stage 1 shows
	// lines added and removed, without the package clause.
	_, doc := get(t, s, "/tour/2")
	diff := doc.Find(`[data-testid="tour-diff"][data-path="stage.go"]`)
	if diff.Length() != 1 || diff.Find(".diff-add").Length() == 0 || diff.Find(".diff-del").Length() == 0 || diff.Find(".diff-hunk").Length() == 0 {
		t.Fatalf("stage 2's diff of stage.go: %q", diff.Text())
	}
	if strings.Contains(diff.Text(), "package stage1") {
		t.Error("the diff shows the package clause")
	}
	if doc.Find(`[data-testid="tour-dropped"] li`).Length() != 4 {
		t.Errorf("stage 2 drops 4 files, the page lists %d", doc.Find(`[data-testid="tour-dropped"] li`).Length())
	}
	// Stage 0 has no stage before it: its files, no diff.
	if _, doc := get(t, s, "/tour/0"); doc.Find(`[data-testid="tour-diff"]`).Length() != 0 {
		t.Error("stage 0 has a diff")
	}
	for _, bad := range []string{"/tour/4", "/tour/-1", "/tour/x"} {
		if status, _ := get(t, s, bad); status != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", bad, status)
		}
	}
}

// boxesOf are the components of stage n's diagram.
func boxesOf(n int) []string {
	var out []string
	for _, b := range Infos[n].Diagram.Boxes {
		out = append(out, b.Component)
	}
	return out
}

func TestTheTourButtonsSetOnlyTheControlsTheServerHas(t *testing.T) {
	w := &fakeWorkshop{}
	b := &browser{t: t, s: newTourServer(t, w, Config{})}
	status, doc := b.do(http.MethodGet, "/tour/3", nil)
	if status != http.StatusOK {
		t.Fatalf("/tour/3: %d", status)
	}
	// The fake has projector_delay_ms and projector: no button sets a
	// control it lacks.
	if got := strings.Join(buttons(doc), ","); got != "enter,slow-projector,pause-projector,restore" {
		t.Fatalf("stage 3's buttons: %s", got)
	}
	if doc.Find(`[data-testid="tour-step-write-db-down"]`).Length() != 1 {
		t.Error("a step without its control should still read")
	}
	token := doc.Find(`[data-testid="tour-step-slow-projector"] input[name="_csrf"]`).AttrOr("value", "")
	if status, _ := b.do(http.MethodPost, "/tour/3/try/slow-projector", url.Values{"stage": {"3"}}); status != http.StatusForbidden || w.delay != 0 {
		t.Errorf("without a CSRF token: %d, delay %d", status, w.delay)
	}
	status, _ = b.do(http.MethodPost, "/tour/3/try/slow-projector", url.Values{"_csrf": {token}})
	if status != http.StatusSeeOther || w.delay != 3000 || active(b.s) != 3 {
		t.Fatalf("slow the projector: %d, delay %d, stage %d", status, w.delay, active(b.s))
	}
	_, doc = b.do(http.MethodGet, "/tour/3?tried=slow-projector", nil)
	if got := doc.Find(`[data-testid="tour-done"]`).Text(); !strings.HasPrefix(got, "Done: Slow the projector down.") {
		t.Errorf("after the step: %q", got)
	}
	if status, _ := b.do(http.MethodPost, "/tour/3/try/write-db-down", url.Values{"_csrf": {token}}); status != http.StatusNotFound {
		t.Errorf("a step whose control the server lacks: %d", status)
	}
	if status, _ := b.do(http.MethodPost, "/tour/3/try/no-such-step", url.Values{"_csrf": {token}}); status != http.StatusNotFound {
		t.Errorf("no such step: %d", status)
	}
	// Back to stage 0 from its page, then every control back.
	if status, _ := b.do(http.MethodPost, "/tour/0/try/enter", url.Values{"_csrf": {token}}); status != http.StatusSeeOther || active(b.s) != 0 || w.delay != 3000 {
		t.Errorf("stage 0's step: %d, stage %d, delay %d", status, active(b.s), w.delay)
	}
	w.paused = true
	if status, _ := b.do(http.MethodPost, "/tour/3/try/restore", url.Values{"_csrf": {token}}); status != http.StatusSeeOther || w.delay != 0 || w.paused {
		t.Errorf("restore: %d, %+v", status, w)
	}
}

func TestTheTourWithoutTheWorkshopOrTheAdminHasNoControlButtons(t *testing.T) {
	s := newTourServer(t, nil, Config{})
	_, doc := get(t, s, "/tour/3")
	if got := strings.Join(buttons(doc), ","); got != "enter" {
		t.Errorf("without --workshop, the buttons: %s", got)
	}
	if doc.Find(`[data-testid="tour-workshop-off"]`).Length() != 1 {
		t.Error("no word on --workshop")
	}
	// With an admin token, a visitor who has not signed in gets a link
	// to the sign-in, and pressing is refused.
	w := &fakeWorkshop{}
	locked := newTourServer(t, w, Config{AdminToken: "s3cret-admin"})
	_, doc = get(t, locked, "/tour/3")
	if len(buttons(doc)) != 0 || doc.Find(`[data-testid="tour-sign-in-link"]`).AttrOr("href", "") != "/sign-in?next=%2Ftour%2F3" {
		t.Errorf("locked: buttons %v, sign-in %q", buttons(doc), doc.Find(`[data-testid="tour-sign-in-link"]`).AttrOr("href", ""))
	}
	b := &browser{t: t, s: locked}
	_, doc = b.do(http.MethodGet, "/tour/3", nil)
	token := doc.Find(`input[name="_csrf"]`).First().AttrOr("value", "")
	if status, _ := b.do(http.MethodPost, "/tour/3/try/slow-projector", url.Values{"_csrf": {token}}); status != http.StatusUnauthorized || w.delay != 0 || active(locked) != 0 {
		t.Errorf("pressed without signing in: %d, delay %d, stage %d", status, w.delay, active(locked))
	}
}

// fakeResetter counts the resets.
type fakeResetter struct {
	calls []int
	w     *fakeWorkshop
	// delays are the projector delay each reset found.
	delays []int
}

func (f *fakeResetter) Reset(_ context.Context, seedOrders int) error {
	f.calls = append(f.calls, seedOrders)
	f.delays = append(f.delays, f.w.delay)
	return nil
}

func TestResetIsAWorkshopAdminAction(t *testing.T) {
	// Without the workshop: 404, and no control on the page.
	s := newTourServer(t, nil, Config{})
	if a := call(t, s, http.MethodPost, "/api/admin/reset", "application/json", `{}`); a.status != http.StatusNotFound || a.ctype != "application/problem+json" {
		t.Errorf("reset without --workshop: %d %s", a.status, a.body)
	}

	w := &fakeWorkshop{delay: 300}
	r := &fakeResetter{w: w}
	s = newTourServer(t, w, Config{Reset: r})
	for _, bad := range []string{`{"seed_orders": -1}`, `{"seed_orders": 100001}`, `{"seed_orders": "ten"}`, `{"orders": 3}`} {
		if a := call(t, s, http.MethodPost, "/api/admin/reset", "application/json", bad); a.status != http.StatusUnprocessableEntity && a.status != http.StatusBadRequest {
			t.Errorf("reset %s: %d %s", bad, a.status, a.body)
		}
	}
	if len(r.calls) != 0 {
		t.Fatalf("bad requests reset: %v", r.calls)
	}
	a := call(t, s, http.MethodPost, "/api/admin/reset", "application/json", `{"seed_orders": 25}`)
	var got resetJSON
	if a.status != http.StatusOK || json.Unmarshal(a.body, &got) != nil || !got.Reset || got.SeedOrders != 25 {
		t.Fatalf("reset: %d %s", a.status, a.body)
	}
	if len(r.calls) != 1 || r.calls[0] != 25 || r.delays[0] != 0 || w.delay != 0 {
		t.Errorf("reset calls %v, delays seen %v: the controls go back before the reset", r.calls, r.delays)
	}

	// The panel's form.
	b := &browser{t: t, s: s}
	_, doc := b.do(http.MethodGet, "/architecture?stage=3", nil)
	form := doc.Find(`[data-testid="workshop-reset"]`)
	if form.AttrOr("action", "") != "/architecture/reset" || form.Find(`[data-testid="reset-button"]`).AttrOr("data-confirm", "") == "" {
		t.Fatalf("reset form: %q", form.Text())
	}
	token := form.Find(`input[name="_csrf"]`).AttrOr("value", "")
	if status, _ := b.do(http.MethodPost, "/architecture/reset", url.Values{"_csrf": {token}, "seed_orders": {"many"}}); status != http.StatusUnprocessableEntity || len(r.calls) != 1 {
		t.Errorf("bad count: %d, calls %v", status, r.calls)
	}
	if status, _ := b.do(http.MethodPost, "/architecture/reset", url.Values{"_csrf": {token}, "seed_orders": {"0"}}); status != http.StatusSeeOther || len(r.calls) != 2 || r.calls[1] != 0 {
		t.Errorf("reset from the panel: %d, calls %v", status, r.calls)
	}
	_, doc = b.do(http.MethodGet, "/architecture?stage=3&done=reset", nil)
	if !strings.HasPrefix(doc.Find(`[data-testid="flash"]`).Text(), "Data reset") {
		t.Errorf("flash after the reset: %q", doc.Find(`[data-testid="flash"]`).Text())
	}

	// Locked by the admin token.
	locked := newTourServer(t, w, Config{Reset: r, AdminToken: "s3cret-admin"})
	if a := call(t, locked, http.MethodPost, "/api/admin/reset", "application/json", `{}`); a.status != http.StatusUnauthorized || len(r.calls) != 2 {
		t.Errorf("reset without the token: %d, calls %v", a.status, r.calls)
	}
	if a := call(t, locked, http.MethodPost, "/api/admin/reset", "application/json", `{}`, bearer("s3cret-admin")...); a.status != http.StatusOK || len(r.calls) != 3 {
		t.Errorf("reset with the token: %d %s, calls %v", a.status, a.body, r.calls)
	}
}

// TestTheSwitchFlashNamesTheStageAndWhatChanged: after a switch from the
// header, the flash says which stage is active and what it changed.
func TestTheSwitchFlashNamesTheStageAndWhatChanged(t *testing.T) {
	b := &browser{t: t, s: newTourServer(t, nil, Config{})}
	_, doc := b.do(http.MethodGet, "/dashboard", nil)
	token := doc.Find(`[data-testid="stage-switcher"] input[name="_csrf"]`).AttrOr("value", "")
	status, _ := b.do(http.MethodPost, "/stage", url.Values{"_csrf": {token}, "stage": {"3"}})
	if status != http.StatusSeeOther || active(b.s) != 3 {
		t.Fatalf("switch: %d, stage %d", status, active(b.s))
	}
	_, doc = b.do(http.MethodGet, "/dashboard?done=stage", nil)
	want := "Switched to stage 3 · " + Infos[3].Name + ". " + Infos[3].Changed
	if got := strings.TrimSpace(doc.Find(`[data-testid="flash"]`).Text()); got != want {
		t.Errorf("flash %q, want %q", got, want)
	}
	if status, _ := b.do(http.MethodPost, "/stage", url.Values{"_csrf": {token}, "stage": {"2"}}); status != http.StatusUnprocessableEntity || active(b.s) != 3 {
		t.Errorf("a stage the server does not run: %d, stage %d", status, active(b.s))
	}
}
