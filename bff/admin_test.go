package bff

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/stageview"
)

// fakeErrorLog is an error log of fixed entries that records the replays
// asked of it.
type fakeErrorLog struct {
	entries []stageview.ErrorEntry
	replays []replayCall
}

type replayCall struct {
	id  int64
	dry bool
}

func (f *fakeErrorLog) ErrorLogEntries(_ context.Context, status string) ([]stageview.ErrorEntry, error) {
	switch status {
	case "", "parked", "held", "replayed":
	default:
		return nil, &order.Error{Code: order.EINVALID, Message: "unknown status", Fields: []order.FieldError{{Field: "status", Message: "unknown"}}}
	}
	var out []stageview.ErrorEntry
	for _, e := range f.entries {
		if status == "" || e.Status == status {
			out = append(out, e)
		}
	}
	return out, nil
}

func (f *fakeErrorLog) ErrorLogEntry(_ context.Context, id int64) (stageview.ErrorEntry, error) {
	for _, e := range f.entries {
		if e.ID == id {
			return e, nil
		}
	}
	return stageview.ErrorEntry{}, order.Errorf(order.ENOTFOUND, "error log entry %d not found", id)
}

func (f *fakeErrorLog) ReplayErrorLog(ctx context.Context, id int64, dry bool) (stageview.ReplayReport, error) {
	if id != ReplayAll {
		if _, err := f.ErrorLogEntry(ctx, id); err != nil {
			return stageview.ReplayReport{}, err
		}
	}
	f.replays = append(f.replays, replayCall{id, dry})
	text := "applied v2 OrderLinesChanged"
	if dry {
		text = "would apply v2 OrderLinesChanged"
	}
	return stageview.ReplayReport{DryRun: dry, Applied: 1, Waiting: 1, Steps: []stageview.ReplayStep{
		{EntryID: 1, OrderID: testOrder, OrderVersion: 2, Type: "OrderLinesChanged", Result: "applied", Text: text},
		{EntryID: 2, OrderID: testOrder, OrderVersion: 3, Type: "OrderShipped", Result: "waiting", Text: "stays held behind v2 OrderLinesChanged"},
	}}, nil
}

const testOrder = "0195f0e2-7a4b-7c3d-8e9f-0123456789ab"

// newAdminServer runs stages 0 and 1, and with log a stage 3 that has it.
func newAdminServer(t *testing.T, log ErrorLog) *Server {
	t.Helper()
	stages := map[int]Stage{0: fakeStage{}, 1: fakeStage{}}
	if log != nil {
		stages[3] = errorLogStage{ErrorLog: log}
	}
	sw, err := NewSwitch(stages, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(testConfig(Config{Switch: sw, Descriptions: Infos, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testEntries() *fakeErrorLog {
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	return &fakeErrorLog{entries: []stageview.ErrorEntry{
		{ID: 1, EventID: "e1", OrderID: testOrder, OrderVersion: 2, Type: "OrderLinesChanged", Status: "parked",
			Error: "an earlier event of the order is missing", Attempts: 3, FirstFailedAt: at, LastFailedAt: at,
			Envelope: `{"order_version":2,"payload":{"lines":[]}}`},
		{ID: 2, EventID: "e2", OrderID: testOrder, OrderVersion: 3, Type: "OrderShipped", Status: "held",
			Error: "held", FirstFailedAt: at, LastFailedAt: at, Envelope: `{"order_version":3}`},
		{ID: 3, EventID: "e3", OrderID: "not-an-order", OrderVersion: 0, Type: "unknown", Status: "parked",
			Error: "unreadable", Attempts: 1, FirstFailedAt: at, LastFailedAt: at, Envelope: "base64:/wD+eA==",
			Unreadable: "the message is not text"},
	}}
}

type answer struct {
	status int
	ctype  string
	body   []byte
}

func call(t *testing.T, s *Server, method, target, ctype, body string, header ...string) answer {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.App().Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), raw}
}

func TestTheAdminAPIListsTheErrorLogWhateverStageIsActive(t *testing.T) {
	s := newAdminServer(t, testEntries())
	a := call(t, s, http.MethodGet, "/api/admin/error-log", "", "")
	if a.status != http.StatusOK {
		t.Fatalf("GET: %d %s", a.status, a.body)
	}
	var got struct {
		Entries []map[string]any `json:"entries"`
	}
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 3 {
		t.Fatalf("%d entries", len(got.Entries))
	}
	for _, k := range []string{"id", "event_id", "order_id", "order_version", "type", "status", "error", "attempts", "first_failed_at", "last_failed_at"} {
		if _, ok := got.Entries[0][k]; !ok {
			t.Errorf("entry lacks %q: %v", k, got.Entries[0])
		}
	}
	if _, ok := got.Entries[0]["envelope"]; ok {
		t.Error("the list carries envelopes")
	}
	a = call(t, s, http.MethodGet, "/api/admin/error-log?status=held", "", "")
	if err := json.Unmarshal(a.body, &got); err != nil || len(got.Entries) != 1 || got.Entries[0]["status"] != "held" {
		t.Errorf("status=held: %s", a.body)
	}
	a = call(t, s, http.MethodGet, "/api/admin/error-log?status=lost", "", "")
	if a.status != http.StatusUnprocessableEntity || !strings.HasPrefix(a.ctype, "application/problem+json") {
		t.Errorf("unknown status: %d %s %s", a.status, a.ctype, a.body)
	}
	a = call(t, s, http.MethodGet, "/api/admin/nothing", "", "")
	if a.status != http.StatusNotFound || !strings.HasPrefix(a.ctype, "application/problem+json") {
		t.Errorf("unknown admin path: %d %s", a.status, a.body)
	}
}

func TestTheAdminAPIShowsAnEntryWithItsEnvelope(t *testing.T) {
	s := newAdminServer(t, testEntries())
	a := call(t, s, http.MethodGet, "/api/admin/error-log/1", "", "")
	var got map[string]any
	if err := json.Unmarshal(a.body, &got); err != nil || a.status != http.StatusOK {
		t.Fatalf("GET 1: %d %s", a.status, a.body)
	}
	if env, ok := got["envelope"].(map[string]any); !ok || env["order_version"] != float64(2) || got["readable"] != true {
		t.Errorf("entry 1: %s", a.body)
	}
	a = call(t, s, http.MethodGet, "/api/admin/error-log/3", "", "")
	if err := json.Unmarshal(a.body, &got); err != nil || got["envelope"] != "base64:/wD+eA==" || got["readable"] != false || got["unreadable"] == "" {
		t.Errorf("entry 3: %s", a.body)
	}
	for _, p := range []string{"/api/admin/error-log/999", "/api/admin/error-log/abc", "/api/admin/error-log/-1"} {
		if a := call(t, s, http.MethodGet, p, "", ""); a.status != http.StatusNotFound || !strings.HasPrefix(a.ctype, "application/problem+json") {
			t.Errorf("GET %s: %d %s", p, a.status, a.body)
		}
	}
}

func TestTheAdminAPIReplaysAndRejectsBadRequests(t *testing.T) {
	log := testEntries()
	s := newAdminServer(t, log)
	const path = "/api/admin/error-log/replay"
	for _, c := range []struct {
		name, ctype, body string
		status            int
	}{
		{"form", "application/x-www-form-urlencoded", "id=1", http.StatusUnsupportedMediaType},
		{"empty", "application/json", "", http.StatusBadRequest},
		{"neither", "application/json", `{"dry_run":true}`, http.StatusUnprocessableEntity},
		{"both", "application/json", `{"id":1,"all":true}`, http.StatusUnprocessableEntity},
		{"zero", "application/json", `{"id":0}`, http.StatusUnprocessableEntity},
		{"not_a_number", "application/json", `{"id":"1"}`, http.StatusUnprocessableEntity},
		{"unknown_field", "application/json", `{"id":1,"force":true}`, http.StatusUnprocessableEntity},
		{"unknown_entry", "application/json", `{"id":999}`, http.StatusNotFound},
	} {
		a := call(t, s, http.MethodPost, path, c.ctype, c.body)
		if a.status != c.status || !strings.HasPrefix(a.ctype, "application/problem+json") {
			t.Errorf("%s: %d %s %s, want %d problem", c.name, a.status, a.ctype, a.body, c.status)
		}
	}
	if a := call(t, s, http.MethodPost, path, "application/json", `{"all":true}`, "Sec-Fetch-Site", "cross-site"); a.status != http.StatusForbidden {
		t.Errorf("cross-site: %d", a.status)
	}
	if len(log.replays) != 0 {
		t.Fatalf("bad requests replayed: %v", log.replays)
	}
	a := call(t, s, http.MethodPost, path, "application/json", `{"id":1,"dry_run":true}`)
	var report struct {
		DryRun  bool `json:"dry_run"`
		Applied int  `json:"applied"`
		Steps   []struct {
			EntryID int64  `json:"entry_id"`
			Result  string `json:"result"`
			Text    string `json:"text"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(a.body, &report); err != nil || a.status != http.StatusOK {
		t.Fatalf("dry run: %d %s", a.status, a.body)
	}
	if !report.DryRun || report.Applied != 1 || len(report.Steps) != 2 || report.Steps[0].Text != "would apply v2 OrderLinesChanged" {
		t.Errorf("report %s", a.body)
	}
	call(t, s, http.MethodPost, path, "application/json", `{"all":true}`)
	if want := []replayCall{{1, true}, {ReplayAll, false}}; len(log.replays) != 2 || log.replays[0] != want[0] || log.replays[1] != want[1] {
		t.Errorf("replays %v, want %v", log.replays, want)
	}
}

func TestWithoutAnErrorLogTheAdminRoutesAnswerNotFound(t *testing.T) {
	s := newAdminServer(t, nil)
	if a := call(t, s, http.MethodGet, "/api/admin/error-log", "", ""); a.status != http.StatusNotFound || !strings.HasPrefix(a.ctype, "application/problem+json") {
		t.Errorf("API: %d %s", a.status, a.body)
	}
	if a := call(t, s, http.MethodGet, "/admin/error-log", "", ""); a.status != http.StatusNotFound {
		t.Errorf("page: %d", a.status)
	}
	if a := call(t, s, http.MethodGet, "/admin/error-log/badge", "", ""); a.status != http.StatusOK {
		t.Errorf("badge: %d", a.status)
	}
}

// browser is a cookie-keeping client of a test server, for the CSRF token.
type browser struct {
	t      *testing.T
	s      *Server
	cookie string
}

func (b *browser) do(method, target string, form url.Values) (int, *goquery.Document) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.cookie != "" {
		req.Header.Set("Cookie", b.cookie)
	}
	resp, err := b.s.App().Test(req, -1)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "staircase_csrf" {
			b.cookie = c.Name + "=" + c.Value
		}
	}
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp.StatusCode, doc
}

func TestTheErrorLogPageListsShowsAndReplays(t *testing.T) {
	log := testEntries()
	b := &browser{t: t, s: newAdminServer(t, log)}
	status, doc := b.do(http.MethodGet, "/admin/error-log", nil)
	if status != http.StatusOK {
		t.Fatalf("page: %d", status)
	}
	if n := doc.Find(`[data-testid="error-log-row"]`).Length(); n != 3 {
		t.Fatalf("%d rows", n)
	}
	if got := doc.Find(`[data-testid="error-log-row"][data-status="parked"] [data-testid="entry-status"]`).First().AttrOr("class", ""); got != "badge badge-parked" {
		t.Errorf("parked badge class %q", got)
	}
	if got := strings.Join(strings.Fields(doc.Find(`[data-testid="error-log-counts"]`).Text()), " "); !strings.HasPrefix(got, "2 parked · 1 held") {
		t.Errorf("counts %q", got)
	}
	all := doc.Find(`[data-testid="replay-all"]`)
	if all.AttrOr("data-confirm", "") != "Replay 3 entries?" {
		t.Errorf("replay all confirmation %q", all.AttrOr("data-confirm", ""))
	}
	token := all.Closest("form").Find(`input[name="_csrf"]`).AttrOr("value", "")
	if token == "" {
		t.Fatal("replay form without a CSRF token")
	}

	// Without the token nothing is replayed.
	if status, _ := b.do(http.MethodPost, "/admin/error-log", url.Values{"id": {"1"}}); status != http.StatusForbidden || len(log.replays) != 0 {
		t.Errorf("no token: %d, replays %v", status, log.replays)
	}
	status, doc = b.do(http.MethodPost, "/admin/error-log", url.Values{"_csrf": {token}, "id": {"1"}, "dry_run": {"1"}})
	if status != http.StatusOK || len(log.replays) != 1 || log.replays[0] != (replayCall{1, true}) {
		t.Fatalf("dry run: %d, replays %v", status, log.replays)
	}
	if doc.Find(`[data-testid="replay-report"]`).AttrOr("data-dry-run", "") != "true" ||
		!strings.Contains(doc.Find(`[data-testid="replay-step"]`).First().Text(), "would apply v2 OrderLinesChanged") {
		t.Errorf("report: %q", doc.Find(`[data-testid="replay-report"]`).Text())
	}
	status, doc = b.do(http.MethodPost, "/admin/error-log", url.Values{"_csrf": {token}, "id": {"x"}})
	if status != http.StatusUnprocessableEntity || doc.Find(`[data-testid="error-log-message"]`).Length() != 1 || len(log.replays) != 1 {
		t.Errorf("bad id: %d, replays %v", status, log.replays)
	}
	status, _ = b.do(http.MethodPost, "/admin/error-log", url.Values{"_csrf": {token}, "id": {"999"}})
	if status != http.StatusUnprocessableEntity {
		t.Errorf("unknown id: %d", status)
	}
	if status, _ = b.do(http.MethodPost, "/admin/error-log", url.Values{"_csrf": {token}, "all": {"1"}}); status != http.StatusOK ||
		log.replays[len(log.replays)-1] != (replayCall{ReplayAll, false}) {
		t.Errorf("replay all: %d, replays %v", status, log.replays)
	}

	status, doc = b.do(http.MethodGet, "/admin/error-log/1", nil)
	if status != http.StatusOK || !strings.Contains(doc.Find(`[data-testid="envelope"]`).Text(), "\n  \"order_version\": 2") {
		t.Errorf("detail: %d %q", status, doc.Find(`[data-testid="envelope"]`).Text())
	}
	status, doc = b.do(http.MethodPost, "/admin/error-log/1", url.Values{"_csrf": {token}})
	if status != http.StatusOK || log.replays[len(log.replays)-1] != (replayCall{1, false}) || doc.Find(`[data-testid="replay-report"]`).Length() != 1 {
		t.Errorf("detail replay: %d, replays %v", status, log.replays)
	}
	if _, doc = b.do(http.MethodGet, "/admin/error-log/3", nil); doc.Find(`[data-testid="unreadable"]`).Length() != 1 {
		t.Error("an unreadable entry does not say so")
	}
	if status, _ = b.do(http.MethodGet, "/admin/error-log/999", nil); status != http.StatusNotFound {
		t.Errorf("unknown entry page: %d", status)
	}
	if status, doc = b.do(http.MethodGet, "/admin/error-log?status=lost", nil); status != http.StatusOK || doc.Find(`[data-testid="error-log-message"]`).Length() != 1 {
		t.Errorf("unknown status filter: %d", status)
	}
	if _, doc = b.do(http.MethodGet, "/admin/error-log/badge", nil); strings.TrimSpace(doc.Find(`[data-testid="error-log-count"]`).Text()) != "2 parked" {
		t.Errorf("badge %q", doc.Find(`[data-testid="error-log-count"]`).Text())
	}
}

func TestTheArchitecturePageLinksTheErrorLogFromStageThree(t *testing.T) {
	s := newAdminServer(t, testEntries())
	_, doc := get(t, s, "/architecture?stage=3")
	link := doc.Find(`[data-testid="error-log-link"]`)
	if link.AttrOr("href", "") != "/admin/error-log" || doc.Find(`[hx-get="/admin/error-log/badge"]`).Length() != 1 {
		t.Errorf("stage 3 panel: no error log link")
	}
	if _, doc = get(t, s, "/architecture?stage=1"); doc.Find(`[data-testid="error-log-link"]`).Length() != 0 {
		t.Error("stage 1's panel links the error log")
	}
}
