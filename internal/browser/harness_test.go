package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/order"
)

// testTimeout bounds each test (app start, browser tab and every step).
const testTimeout = 60 * time.Second

// The browser that every test shares; each test opens its own tab in its own
// browser context (own cookies and storage). browserErr says why there is
// none.
var (
	browserCtx context.Context
	browserErr error
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	exe, err := chromiumPath()
	if err != nil {
		browserErr = err
		return m.Run()
	}
	// Chromium leaves org.chromium.Chromium.* folders in $TMPDIR: give it a
	// scratch folder outside the module, removed at the end, and keep its
	// profile there too.
	scratch, err := os.MkdirTemp("", "staircase-browser-")
	if err != nil {
		browserErr = err
		return m.Run()
	}
	defer os.RemoveAll(scratch)
	tmp, profile := filepath.Join(scratch, "tmp"), filepath.Join(scratch, "profile")
	for _, d := range []string{tmp, profile} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			browserErr = err
			return m.Run()
		}
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// The defaults' list, plus the back/forward cache: chromedp loses
		// track of a document restored from it (a query after a
		// cross-document Back waits forever).
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,BackForwardCache"),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
		chromedp.Env("TMPDIR="+tmp),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()

	// The first Do starts the browser and ties it to bctx, which must not
	// carry a timeout; bound the start from outside instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(bctx) }()
	select {
	case err = <-started:
	case <-time.After(30 * time.Second):
		err = errors.New("chromium did not start within 30 s")
	}
	if err != nil {
		browserErr = fmt.Errorf("start %s: %w", exe, err)
		cancelBrowser()
		return m.Run()
	}
	browserCtx = bctx
	code := m.Run()
	cancelBrowser()
	cancelAlloc()
	return code
}

// chromiumPath finds the browser: $STAIRCASE_CHROMIUM, /usr/bin/chromium
// (Debian's), or a chromium or chrome on PATH.
func chromiumPath() (string, error) {
	if p := os.Getenv("STAIRCASE_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("STAIRCASE_CHROMIUM: %w", err)
		}
		return p, nil
	}
	for _, p := range []string{"/usr/bin/chromium"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium found (apt-get install -y chromium)")
}

// needBrowser skips the test without a browser, or fails it in CI.
func needBrowser(t *testing.T) {
	t.Helper()
	if browserErr == nil && browserCtx != nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("browser tests need chromium in CI: %v", browserErr)
	}
	t.Skipf("no browser: %v", browserErr)
}

// stagesUnderTest are the stages each test runs in: STAIRCASE_BROWSER_STAGES
// ("0,1,2"), by default every stage the app serves.
func stagesUnderTest(t *testing.T) []int {
	t.Helper()
	env := strings.TrimSpace(os.Getenv("STAIRCASE_BROWSER_STAGES"))
	if env == "" {
		return servedStages(t)
	}
	var out []int
	for _, f := range strings.Split(env, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			t.Fatalf("STAIRCASE_BROWSER_STAGES=%q: %v", env, err)
		}
		out = append(out, n)
	}
	return out
}

// The stages the app serves, asked once of an app built for the purpose.
var (
	servedOnce sync.Once
	served     []int
	servedErr  error
)

// servedStages lists the stages the app serves, in order (0, 1, 2, and 3
// once the app includes it): it builds the app once in a scratch folder and
// asks its stage switch.
func servedStages(t *testing.T) []int {
	t.Helper()
	servedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "staircase-stages-")
		if err != nil {
			servedErr = err
			return
		}
		defer os.RemoveAll(dir)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		a, err := app.New(ctx, app.Config{DataDir: dir, Stage: 0, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			servedErr = fmt.Errorf("build the app to list its stages: %w", err)
			return
		}
		served = a.Switch.Numbers()
		if err := a.Close(); err != nil {
			servedErr = fmt.Errorf("close the app that listed the stages: %w", err)
		}
		if servedErr == nil && len(served) == 0 {
			servedErr = errors.New("the app serves no stage")
		}
	})
	if servedErr != nil {
		t.Fatal(servedErr)
	}
	return append([]int(nil), served...)
}

// eachStage runs fn as a subtest per stage under test, with the app started
// in that stage and a fresh tab on it.
func eachStage(t *testing.T, fn func(t *testing.T, tb *tab)) {
	t.Helper()
	needBrowser(t)
	for _, stage := range stagesUnderTest(t) {
		t.Run("stage"+strconv.Itoa(stage), func(t *testing.T) {
			base := startApp(t, stage)
			fn(t, newTab(t, base, stage))
		})
	}
}

// ---------------------------------------------------------------------------
// The app

// startApp serves Staircase in-process on 127.0.0.1:0 in the given stage,
// with its data in a fresh temporary folder, and returns its base URL. The
// test's cleanup stops it. Any error the app logs fails the test.
func startApp(t *testing.T, stage int) string {
	t.Helper()
	base, _ := startAppWithDir(t, stage)
	return base
}

// startAppWithDir is startApp that also answers the app's data folder.
func startAppWithDir(t *testing.T, stage int) (base, dir string) {
	t.Helper()
	dir = filepath.Clean(t.TempDir())
	return serveApp(t, app.Config{DataDir: dir, Stage: stage}), dir
}

// serveApp runs the app configured by cfg on a free port until the test
// ends, and returns its base URL once it answers. An error the app logs
// fails the test, unless its message matches one of allowed (an event
// parked on purpose is logged as an error).
func serveApp(t *testing.T, cfg app.Config, allowed ...*regexp.Regexp) string {
	t.Helper()
	h := newExpectedErrors(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}), allowed)
	cfg.Logger = slog.New(h)
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("start the app in stage %d: %v", cfg.Stage, err)
	}
	if err := a.Ready(ctx); err != nil {
		cancel()
		a.Close()
		t.Fatalf("prepare stage %d: %v", cfg.Stage, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		a.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("the app did not shut down within 15 s")
		}
		if err := a.Close(); err != nil {
			t.Errorf("close the app: %v", err)
		}
		for _, e := range h.unexpected() {
			t.Errorf("the app logged an error: %s (see the log above)", e)
		}
	})
	base := "http://" + ln.Addr().String()
	waitAPIStatus(t, base+"/healthz", http.StatusOK)
	return base
}

// expectedErrors records the error records whose message matches none of
// allowed.
type expectedErrors struct {
	slog.Handler
	allowed []*regexp.Regexp
	mu      *sync.Mutex
	errs    *[]string
}

func newExpectedErrors(h slog.Handler, allowed []*regexp.Regexp) *expectedErrors {
	return &expectedErrors{Handler: h, allowed: allowed, mu: new(sync.Mutex), errs: new([]string)}
}

func (h *expectedErrors) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && !slices.ContainsFunc(h.allowed, func(re *regexp.Regexp) bool { return re.MatchString(r.Message) }) {
		h.mu.Lock()
		*h.errs = append(*h.errs, r.Message)
		h.mu.Unlock()
	}
	return h.Handler.Handle(ctx, r)
}

func (h *expectedErrors) WithAttrs(as []slog.Attr) slog.Handler {
	return &expectedErrors{Handler: h.Handler.WithAttrs(as), allowed: h.allowed, mu: h.mu, errs: h.errs}
}

func (h *expectedErrors) WithGroup(name string) slog.Handler {
	return &expectedErrors{Handler: h.Handler.WithGroup(name), allowed: h.allowed, mu: h.mu, errs: h.errs}
}

func (h *expectedErrors) unexpected() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), *h.errs...)
}

// ---------------------------------------------------------------------------
// The JSON API, to set up orders without the UI

type apiLine struct {
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Quantity       int    `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
}

type apiOrder struct {
	ID       string    `json:"id"`
	Customer string    `json:"customer"`
	Address  string    `json:"address"`
	Lines    []apiLine `json:"lines"`
}

// placeViaAPI places an order through the active stage's JSON API and
// returns its ID.
func placeViaAPI(t *testing.T, base string, stage int, o apiOrder) string {
	t.Helper()
	if o.ID == "" {
		o.ID = order.NewID().String()
	}
	if o.Address == "" {
		o.Address = "1 Test Street\nTestville"
	}
	if stage == 0 {
		apiCall(t, http.MethodPost, base+"/api/orders", o)
		return o.ID
	}
	etag := apiCall(t, http.MethodPost, base+"/api/commands/place-order", o)
	waitQuerySide(t, base, o.ID, etag)
	return o.ID
}

// moveViaAPI moves an order to a status (shipped, delivered, cancelled)
// through the JSON API.
func moveViaAPI(t *testing.T, base string, stage int, id, status string) {
	t.Helper()
	if stage == 0 {
		apiCall(t, http.MethodPut, base+"/api/orders/"+id, map[string]string{"status": status, "reason": "test"})
		return
	}
	cmd := map[string]string{"shipped": "ship-order", "delivered": "deliver-order", "cancelled": "cancel-order"}[status]
	if cmd == "" {
		t.Fatalf("no command moves an order to %q", status)
	}
	etag := apiCall(t, http.MethodPost, base+"/api/commands/"+cmd, map[string]string{"id": id})
	waitQuerySide(t, base, id, etag)
}

// waitQuerySide waits until the retrieve API shows the order at the version
// a command's ack gave as its ETag (at all, without one): a read side that
// catches up later (stage 3) then shows the set-up orders on every page.
// Stages 1 and 2 read what they wrote, so the first look succeeds.
func waitQuerySide(t *testing.T, base, id, etag string) {
	t.Helper()
	want, _ := strconv.Atoi(strings.Trim(etag, `W/"`))
	url := base + "/api/queries/orders/" + id
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		resp.Body.Close()
		got, _ := strconv.Atoi(strings.Trim(resp.Header.Get("ETag"), `W/"`))
		if resp.StatusCode == http.StatusOK && got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: still %s at version %d after 10 s, want version %d", url, resp.Status, got, want)
		}
		time.Sleep(25 * time.Millisecond) // polling the read side, which has no push to wait on
	}
}

// apiCall sends body as JSON and answers the response's ETag.
func apiCall(t *testing.T, method, url string, body any) string {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %s: %s", method, url, resp.Status, out)
	}
	return resp.Header.Get("ETag")
}

// waitAPIStatus waits up to 10 s until GET url answers want (a read side
// that catches up later needs a moment), and fails with the last status.
func waitAPIStatus(t *testing.T, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := apiStatus(t, url)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("GET %s answers %d, want %d", url, got, want)
			return
		}
		time.Sleep(25 * time.Millisecond) // polling the read side, which has no push to wait on
	}
}

// apiStatus answers the HTTP status of GET url.
func apiStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// ---------------------------------------------------------------------------
// The browser tab

// tab is one browser tab of a test, in its own browser context, on one app.
// It records every JavaScript exception, console error and CSP violation,
// and fails the test with them at cleanup.
type tab struct {
	t     *testing.T
	ctx   context.Context
	base  string
	stage int

	mu       sync.Mutex
	problems []string // fail the test
	notes    []string // logged: network errors the test may expect (422s)
	dialogs  []string // messages of the dialogs that opened
	// onDialog decides whether to accept a dialog; nil means no dialog is
	// expected: it is dismissed and fails the test.
	onDialog func(message string) bool
}

func newTab(t *testing.T, base string, stage int) *tab {
	t.Helper()
	tb := &tab{t: t, base: base, stage: stage}
	tabCtx, cancelTab := chromedp.NewContext(browserCtx,
		chromedp.WithNewBrowserContext(),
		chromedp.WithListener(tb.listen))
	// The tab lives as long as the context of its first Do: open it with
	// tabCtx, so that it survives the test's timeout for a last screenshot,
	// and bound every step with ctx.
	ctx, cancel := context.WithTimeout(tabCtx, testTimeout)
	tb.ctx = ctx
	t.Cleanup(func() {
		tb.report()
		cancel()
		cancelTab()
	})
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return tb
}

// cspPattern matches Chromium's CSP messages, old and new wording.
var cspPattern = regexp.MustCompile(`Refused to|Content Security Policy|violates the following`)

// expectedStatus matches the failed loads the app answers on purpose: 422
// (the form with its messages) and 409 (an order with a conflict notice).
var expectedStatus = regexp.MustCompile(`status of (422|409)\b`)

// listen runs on the tab's event loop, in the order of the events: it must
// return fast and send no command.
func (tb *tab) listen(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		tb.problem(fmt.Sprintf("JS exception at %s:%d: %s", d.URL, d.LineNumber+1, msg))
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			tb.problem("console." + string(ev.Type) + ": " + argsText(ev.Args))
		}
	case *log.EventEntryAdded:
		e := ev.Entry
		text := fmt.Sprintf("[%s %s] %s %s", e.Source, e.Level, e.Text, e.URL)
		switch {
		case cspPattern.MatchString(e.Text):
			tb.problem("CSP violation (or another policy block): " + text)
		case e.Source == log.EntrySourceNetwork && expectedStatus.MatchString(e.Text):
			// "Failed to load resource: … 422": a validation re-render or a
			// conflict page, which htmx swaps in on purpose.
			tb.note(text)
		case e.Source == log.EntrySourceNetwork:
			tb.problem("network: " + text)
		case e.Level == log.EntryLevelError:
			tb.problem("browser log: " + text)
		}
	case *page.EventJavascriptDialogOpening:
		tb.mu.Lock()
		tb.dialogs = append(tb.dialogs, ev.Message)
		decide := tb.onDialog
		tb.mu.Unlock()
		accept := false
		if decide == nil {
			tb.problem(fmt.Sprintf("unexpected %s dialog: %q", ev.Type, ev.Message))
		} else {
			accept = decide(ev.Message)
		}
		// The dialog blocks the page (and the click that opened it): answer
		// it from another goroutine, as commands cannot run here.
		go func() {
			_, err := chromedp.Call(tb.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: accept})
			if err != nil && tb.ctx.Err() == nil {
				tb.problem("answer the dialog: " + err.Error())
			}
		}()
	}
}

func argsText(args []*runtime.RemoteObject) string {
	var parts []string
	for _, a := range args {
		switch {
		case len(a.Value) > 0:
			parts = append(parts, strings.Trim(string(a.Value), `"`))
		case a.Description != "":
			parts = append(parts, a.Description)
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}

func (tb *tab) problem(s string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.problems = append(tb.problems, s)
}

func (tb *tab) note(s string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.notes = append(tb.notes, s)
}

// takeProblems returns and clears the problems recorded so far; a command
// round trip first makes sure every earlier event has been seen.
func (tb *tab) takeProblems() []string {
	tb.sync()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	p := tb.problems
	tb.problems = nil
	return p
}

// sync makes one command round trip: the tab handles events in order, so
// when the reply is in, the listener has seen every earlier event.
func (tb *tab) sync() {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(tb.ctx), 2*time.Second)
	defer cancel()
	_, _ = chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`0`))
}

func (tb *tab) report() {
	for _, p := range tb.takeProblems() {
		tb.t.Errorf("browser: %s", p)
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, n := range tb.notes {
		tb.t.Logf("browser network log: %s", n)
	}
}

// dialogMessages returns the messages of the dialogs opened so far.
func (tb *tab) dialogMessages() []string {
	tb.sync()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.dialogs...)
}

func (tb *tab) setDialogHandler(f func(message string) bool) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.onDialog = f
}

// ---------------------------------------------------------------------------
// Steps

func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
}

// open loads a page by URL path (a full navigation).
func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.do("open "+path, chromedp.Navigate(tb.base+path))
	tb.waitJS("htmx is ready on "+path, `typeof htmx === "object" && document.readyState === "complete"`)
}

func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// typeInto types text into a field, key by key, after what it holds.
func (tb *tab) typeInto(sel, text string) {
	tb.t.Helper()
	tb.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// retype clears a field and types text into it. It clears the value in
// JavaScript: chromedp.Clear only empties the value attribute, which no
// longer counts once the field has been typed into.
func (tb *tab) retype(sel, text string) {
	tb.t.Helper()
	if !evalJS[bool](tb, `(() => { const e = document.querySelector(`+jsString(sel)+`); if (!e) return false; e.value = ""; return true; })()`) {
		tb.t.Fatalf("clear %s: no such field: %s", sel, tb.pageState())
	}
	tb.typeInto(sel, text)
}

// value is the current value of the first field matching sel.
func (tb *tab) value(sel string) string {
	tb.t.Helper()
	return tb.property(sel, "value")
}

// text is the trimmed text content of the first element matching sel.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return strings.TrimSpace(tb.property(sel, "textContent"))
}

// property reads a string property of the first element matching sel, in
// JavaScript: it sees the page as it is now, and fails at once when there
// is no such element.
func (tb *tab) property(sel, prop string) string {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[*string](
		`(() => { const e = document.querySelector(`+jsString(sel)+`); return e ? String(e[`+jsString(prop)+`]) : null; })()`))
	if err != nil {
		tb.t.Fatalf("%s of %s: %v", prop, sel, err)
	}
	if v == nil {
		tb.shot("missing")
		tb.t.Fatalf("no element %s on the page: %s", sel, tb.pageState())
	}
	return *v
}

// location is the page's path and query, as the address bar shows it.
func (tb *tab) location() string {
	tb.t.Helper()
	return evalJS[string](tb, `location.pathname + location.search`)
}

// back presses the browser's back button.
func (tb *tab) back() {
	tb.t.Helper()
	tb.do("go back", chromedp.NavigateBack())
}

// evalJS evaluates a JavaScript expression in the page.
func evalJS[T any](tb *tab, expr string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS polls until the JavaScript expression is true; it survives page
// loads in between, and fails the test with what it waited for.
func (tb *tab) waitJS(what, expr string) {
	tb.t.Helper()
	var last string
	tick := time.NewTicker(40 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](`!!(`+expr+`)`))
		if err == nil && ok {
			return
		}
		if err != nil {
			last = err.Error()
		}
		select {
		case <-tb.ctx.Done():
			tb.shot("timeout")
			tb.t.Fatalf("waiting until %s (%s): %v; last error: %s; page: %s", what, expr, tb.ctx.Err(), last, tb.pageState())
		case <-tick.C:
		}
	}
}

// pageState is a short description of the page, for failure messages.
func (tb *tab) pageState() string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(tb.ctx), 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " — " + (document.querySelector("main") || document.body || {innerText: ""}).innerText.slice(0, 400)`))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

// waitLocation waits until the page's path and query match re.
func (tb *tab) waitLocation(re string) {
	tb.t.Helper()
	tb.waitJS("the location matches "+re, `new RegExp(`+jsString(re)+`).test(location.pathname + location.search)`)
}

// count answers how many elements match a CSS selector.
func (tb *tab) count(sel string) int {
	tb.t.Helper()
	return evalJS[int](tb, `document.querySelectorAll(`+jsString(sel)+`).length`)
}

// ---------------------------------------------------------------------------
// No reload: a marker on window survives only while the document does.

func (tb *tab) setMarker() {
	tb.t.Helper()
	tb.do("set the marker", chromedp.Evaluate[chromedp.Void](`window.__marker = 42`))
}

func (tb *tab) checkNoReload(when string) {
	tb.t.Helper()
	if got := evalJS[bool](tb, `window.__marker === 42`); !got {
		tb.t.Fatalf("%s: the page reloaded (window.__marker is gone); htmx should have swapped the content", when)
	}
}

// ---------------------------------------------------------------------------
// Screenshots

var (
	artifactsOnce sync.Once
	artifactsDir  string
	artifactsErr  error
)

func screenshotDir() (string, error) {
	artifactsOnce.Do(func() {
		dir := os.Getenv("STAIRCASE_ARTIFACTS")
		if dir == "" {
			root, err := repoRoot()
			if err != nil {
				artifactsErr = err
				return
			}
			dir = filepath.Join(root, "artifacts", "screenshots")
		}
		artifactsErr = os.MkdirAll(dir, 0o755)
		artifactsDir = dir
	})
	return artifactsDir, artifactsErr
}

// repoRoot is the folder holding go.mod, above the test's folder.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test folder")
		}
		dir = parent
	}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// shot saves a full-page PNG named <test>-<step>.png.
func (tb *tab) shot(step string) {
	tb.t.Helper()
	dir, err := screenshotDir()
	if err != nil {
		tb.t.Logf("no screenshot folder: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(tb.ctx), 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Logf("screenshot %s: %v", step, err)
		return
	}
	name := unsafeName.ReplaceAllString(strings.ReplaceAll(tb.t.Name(), "/", "-")+"-"+step, "_") + ".png"
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		tb.t.Logf("screenshot %s: %v", step, err)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
