package bff

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// rebuildStage is a stage 3 whose rebuild goes as the test says: it
// reports a first step, waits for release, then reports its summary (or
// fails).
type rebuildStage struct {
	fakeStage
	behind  bool
	fail    bool
	release chan struct{}

	mu       sync.Mutex
	rebuilds int
	entered  int
}

func (s *rebuildStage) RebuildReadDatabase(ctx context.Context, progress func(string, int)) error {
	s.mu.Lock()
	s.rebuilds++
	s.mu.Unlock()
	progress("Replaying events 1/2 (10/s)", 250)
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	if s.fail {
		return errors.New("disk full")
	}
	progress("Rebuilt 2 events, 1 orders in 1s (2 events/s)", 1000)
	return nil
}

func (s *rebuildStage) Behind(context.Context) (bool, error) { return s.behind, nil }

func (s *rebuildStage) Enter(context.Context, func(done, total int64)) error {
	s.mu.Lock()
	s.entered++
	s.mu.Unlock()
	return nil
}

func (s *rebuildStage) counts() (rebuilds, entered int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rebuilds, s.entered
}

// rebuildClient is a browser on a served test server: cookies kept,
// redirects not followed.
type rebuildClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newRebuildServer(t *testing.T, st *rebuildStage) (*Server, *rebuildClient) {
	t.Helper()
	sw, err := NewSwitch(map[int]Stage{0: fakeStage{}, 2: fakeStage{}, 3: st}, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(testConfig(Config{Switch: sw, Descriptions: Infos, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := serve(t, s)
	jar, _ := cookiejar.New(nil)
	return s, &rebuildClient{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *rebuildClient) do(method, path string, form url.Values, header ...string) (*http.Response, *goquery.Document) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, doc
}

// token loads the stage 3 architecture page and returns its CSRF token.
func (b *rebuildClient) token() string {
	b.t.Helper()
	_, doc := b.do(http.MethodGet, "/architecture?stage=3", nil)
	token := doc.Find(`[data-testid="rebuild-form"] input[name="_csrf"]`).AttrOr("value", "")
	if token == "" {
		b.t.Fatal("the rebuild form has no CSRF token")
	}
	return token
}

// streamUntilDone reads a rebuild's event stream to its "done" and returns
// the last progress event's HTML.
func streamUntilDone(t *testing.T, url string) *goquery.Document {
	t.Helper()
	_, events := openStream(t, url)
	var last string
	for {
		ev := nextEvent(t, events)
		switch ev.name {
		case "progress":
			last = ev.data
		case "done":
			doc, err := goquery.NewDocumentFromReader(strings.NewReader(last))
			if err != nil {
				t.Fatal(err)
			}
			return doc
		default:
			t.Fatalf("unexpected event %q", ev.name)
		}
	}
}

func TestRebuildPanelOnlyOnStage3(t *testing.T) {
	_, b := newRebuildServer(t, &rebuildStage{release: make(chan struct{})})
	_, doc := b.do(http.MethodGet, "/architecture?stage=3", nil)
	form := doc.Find(`[data-testid="rebuild-form"]`)
	if form.AttrOr("method", "") != "post" || form.AttrOr("action", "") != "/architecture/rebuild" {
		t.Fatalf("rebuild form: method %q action %q", form.AttrOr("method", ""), form.AttrOr("action", ""))
	}
	if confirm := form.Find(`[data-testid="rebuild-button"]`).AttrOr("data-confirm", ""); confirm == "" {
		t.Error("the rebuild button asks for no confirmation")
	}
	if doc.Find(`[data-testid="rebuild-status"]`).Length() != 0 {
		t.Error("a progress bar before any rebuild")
	}
	assertNoInlineStyleOrScript(t, doc)
	_, doc = b.do(http.MethodGet, "/architecture?stage=2", nil)
	if doc.Find(`[data-testid="rebuild-panel"]`).Length() != 0 {
		t.Error("stage 2's page has a rebuild panel")
	}
}

func TestRebuildButtonShowsLiveProgress(t *testing.T) {
	st := &rebuildStage{release: make(chan struct{})}
	_, b := newRebuildServer(t, st)
	token := b.token()

	resp, _ := b.do(http.MethodPost, "/architecture/rebuild", url.Values{"_csrf": {token}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/architecture?stage=3") {
		t.Fatalf("POST rebuild: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	_, doc := b.do(http.MethodGet, "/architecture?stage=3", nil)
	status := doc.Find(`[data-testid="rebuild-status"]`)
	events := status.AttrOr("sse-connect", "")
	if status.AttrOr("hx-ext", "") != "sse" || !strings.HasPrefix(events, "/rebuild/events?job=") ||
		status.AttrOr("sse-swap", "") != "progress" || status.AttrOr("sse-close", "") != "done" {
		t.Fatalf("progress panel does not follow the stream: %s", goquery.NewDocumentFromNode(status.Get(0)).Text())
	}
	if bar := status.Find(`progress[data-testid="rebuild-progress"]`); bar.AttrOr("max", "") != "1000" {
		t.Fatalf("no progress bar with a max: %d", bar.Length())
	}
	if doc.Find(`[data-testid="rebuild-button"]`).Length() != 0 {
		t.Error("the button is offered while a rebuild runs")
	}
	assertNoInlineStyleOrScript(t, doc)

	// A second rebuild is refused while the first runs: 409 with a message
	// beside the panel, or problem JSON.
	resp, doc = b.do(http.MethodPost, "/architecture/rebuild", url.Values{"_csrf": {token}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(doc.Find(`[data-testid="rebuild-message"]`).Text(), "already running") {
		t.Fatalf("second rebuild: %s, message %q", resp.Status, doc.Find(`[data-testid="rebuild-message"]`).Text())
	}
	resp, _ = b.do(http.MethodPost, "/architecture/rebuild", url.Values{"_csrf": {token}}, "Accept", "application/json")
	if resp.StatusCode != http.StatusConflict || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("second rebuild as JSON: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}

	// The stream sends the progress so far, then the rest when it comes.
	// (The rebuild may not have reported its first step yet when the
	// stream opens: then the start comes first, and the step next.)
	_, stream := openStream(t, b.base+events)
	first := nextEvent(t, stream)
	if first.name == "progress" && strings.Contains(first.data, "Starting the rebuild") {
		first = nextEvent(t, stream)
	}
	if first.name != "progress" || !strings.Contains(first.data, `value="250"`) || !strings.Contains(first.data, "Replaying events 1/2") {
		t.Fatalf("first event %q: %s", first.name, first.data)
	}
	close(st.release)
	var last string
	for ev := nextEvent(t, stream); ev.name != "done"; ev = nextEvent(t, stream) {
		last = ev.data
	}
	if !strings.Contains(last, `value="1000"`) || !strings.Contains(last, "Rebuilt 2 events, 1 orders in 1s") {
		t.Fatalf("last progress: %s", last)
	}
	if strings.Contains(last, "data-rebuild-next") {
		t.Error("a plain rebuild navigates away when done")
	}

	// The page shows the outcome, and the button again.
	_, doc = b.do(http.MethodGet, "/architecture?stage=3", nil)
	if got := doc.Find(`[data-testid="rebuild-text"]`).Text(); !strings.Contains(got, "Rebuilt 2 events") {
		t.Errorf("outcome %q", got)
	}
	if doc.Find(`[data-testid="rebuild-status"]`).AttrOr("sse-connect", "") != "" {
		t.Error("a finished rebuild still follows a stream")
	}
	if doc.Find(`[data-testid="rebuild-button"]`).Length() != 1 {
		t.Error("no button after the rebuild")
	}
	if n, _ := st.counts(); n != 1 {
		t.Errorf("%d rebuilds, want 1", n)
	}
}

func TestSwitchingToABehindStage3RebuildsInTheBackground(t *testing.T) {
	st := &rebuildStage{behind: true, release: make(chan struct{})}
	s, b := newRebuildServer(t, st)
	token := b.token()

	resp, _ := b.do(http.MethodPost, "/stage", url.Values{"_csrf": {token}, "stage": {"3"}}, "Referer", b.base+"/dashboard")
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/rebuild?job=") {
		t.Fatalf("POST /stage: %s to %q, want the rebuild's page", resp.Status, loc)
	}
	if n, _ := s.cfg.Switch.Active(); n != 0 {
		t.Fatalf("stage %d active before the rebuild ended", n)
	}
	// Another switch waits for this one.
	if resp, _ := b.do(http.MethodPost, "/stage", url.Values{"_csrf": {token}, "stage": {"2"}}); resp.StatusCode != http.StatusConflict {
		t.Fatalf("switch to 2 during the rebuild: %s", resp.Status)
	}
	resp, doc := b.do(http.MethodGet, loc, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(doc.Find("h1").Text(), "Entering stage 3") {
		t.Fatalf("rebuild page: %s %q", resp.Status, doc.Find("h1").Text())
	}
	events := doc.Find(`[data-testid="rebuild-status"]`).AttrOr("sse-connect", "")
	if events == "" {
		t.Fatal("the rebuild page does not follow the rebuild")
	}
	assertNoInlineStyleOrScript(t, doc)
	close(st.release)
	final := streamUntilDone(t, b.base+events)
	next := final.Find(`a[data-rebuild-next]`)
	if next.AttrOr("href", "") != "/dashboard?done=stage" {
		t.Fatalf("lands on %q, want the page the switch was asked from", next.AttrOr("href", ""))
	}
	if n, _ := s.cfg.Switch.Active(); n != 3 {
		t.Fatalf("stage %d active after the rebuild", n)
	}
	// Entering syncs while the old stage serves, then once more behind
	// the write fence (stages.go).
	if rebuilds, entered := st.counts(); rebuilds != 1 || entered != 2 {
		t.Fatalf("%d rebuilds and %d enters, want 1 and 2", rebuilds, entered)
	}
}

func TestSwitchingToAStage3ThatIsNotBehindIsInstant(t *testing.T) {
	st := &rebuildStage{release: make(chan struct{})}
	s, b := newRebuildServer(t, st)
	token := b.token()
	resp, _ := b.do(http.MethodPost, "/stage", url.Values{"_csrf": {token}, "stage": {"3"}}, "Referer", b.base+"/orders")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/orders?done=stage" {
		t.Fatalf("POST /stage: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	if n, _ := s.cfg.Switch.Active(); n != 3 {
		t.Fatalf("stage %d active", n)
	}
	if rebuilds, entered := st.counts(); rebuilds != 0 || entered != 2 {
		t.Fatalf("%d rebuilds and %d enters, want 0 and 2", rebuilds, entered)
	}
}

func TestAFailedRebuildLeavesTheStage(t *testing.T) {
	st := &rebuildStage{behind: true, fail: true, release: make(chan struct{})}
	s, b := newRebuildServer(t, st)
	token := b.token()
	resp, _ := b.do(http.MethodPost, "/stage", url.Values{"_csrf": {token}, "stage": {"3"}})
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/rebuild?job=") {
		t.Fatalf("POST /stage: %s to %q", resp.Status, loc)
	}
	close(st.release)
	final := streamUntilDone(t, b.base+"/rebuild/events?"+strings.SplitN(loc, "?", 2)[1])
	if msg := final.Find(`[data-testid="rebuild-error"]`).Text(); !strings.Contains(msg, "could not be entered") || strings.Contains(msg, "disk full") {
		t.Fatalf("error shown: %q", msg)
	}
	if final.Find(`a[data-rebuild-next]`).Length() != 0 {
		t.Error("a failed switch navigates on by itself")
	}
	if n, _ := s.cfg.Switch.Active(); n != 0 {
		t.Fatalf("stage %d active after a failed rebuild", n)
	}
	if _, entered := st.counts(); entered != 0 {
		t.Fatal("entered stage 3 after a failed rebuild")
	}
}
