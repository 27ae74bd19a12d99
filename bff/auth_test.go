package bff

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/gofiber/fiber/v2"
)

// apiStage serves a query, a command and stage 0's /api/orders, and
// counts the calls that reached it.
type apiStage struct {
	Stage
	calls *int
}

func (s apiStage) Routes(r fiber.Router) {
	r.Get("/api/queries/dashboard", func(c *fiber.Ctx) error { *s.calls++; return c.JSON(fiber.Map{}) })
	r.Post("/api/commands/ship-order", func(c *fiber.Ctx) error { *s.calls++; return c.SendStatus(http.StatusNoContent) })
	r.Post("/api/orders", func(c *fiber.Ctx) error { *s.calls++; return c.SendStatus(http.StatusCreated) })
}

// newAuthServer runs stages 0 and 1 (0 active) and a stage 3 with an
// error log, configured by cfg, its client counted as local only when
// local is set.
func newAuthServer(t *testing.T, cfg Config, log ErrorLog, calls *int, local bool) *Server {
	t.Helper()
	sw, err := NewSwitch(map[int]Stage{0: apiStage{calls: calls}, 1: apiStage{calls: calls}, 3: errorLogStage{ErrorLog: log}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Switch, cfg.Descriptions, cfg.Logger = sw, Infos, slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg = testConfig(cfg)
	if !local {
		cfg.isLocal = nil
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

func active(s *Server) int { n, _ := s.cfg.Switch.Active(); return n }

func TestTheAdminTokenLocksTheAdminAPI(t *testing.T) {
	log, calls := testEntries(), 0
	// Even for a client on this machine: the token is what counts.
	s := newAuthServer(t, Config{AdminToken: "s3cret-admin"}, log, &calls, true)
	for _, auth := range [][]string{nil, bearer("wrong"), bearer(""), {"Authorization", "s3cret-admin"}, {"Authorization", "Basic s3cret-admin"}} {
		for _, r := range []struct{ method, target, body string }{
			{http.MethodPut, "/api/admin/stage", `{"stage": 1}`},
			{http.MethodGet, "/api/admin/stage", ""},
			{http.MethodPost, "/api/admin/error-log/replay", `{"all": true}`},
			{http.MethodPost, "/api/admin/error-log/discard", `{"id": 1}`},
			{http.MethodGet, "/api/admin/error-log", ""},
			{http.MethodGet, "/api/admin/error-log/1", ""},
		} {
			ctype := ""
			if r.body != "" {
				ctype = "application/json"
			}
			a := call(t, s, r.method, r.target, ctype, r.body, auth...)
			if a.status != http.StatusUnauthorized || a.ctype != "application/problem+json" {
				t.Errorf("%s %s with %q: %d %s, want 401 problem JSON", r.method, r.target, auth, a.status, a.body)
			}
		}
	}
	// Paths are case-sensitive: another case is no way around the lock (it
	// routed to the admin API while the lock read the path as another).
	for _, target := range []string{"/api/Admin/stage", "/API/admin/stage", "/Api/ADMIN/stage"} {
		if a := call(t, s, http.MethodPut, target, "application/json", `{"stage": 1}`); a.status < 400 {
			t.Errorf("PUT %s without a token: %d %s", target, a.status, a.body)
		}
	}
	if active(s) != 0 || len(log.replays) != 0 {
		t.Fatalf("refused requests changed something: stage %d, replays %v", active(s), log.replays)
	}
	// Attendees still place orders and read.
	if a := call(t, s, http.MethodPost, "/api/orders", "application/json", "{}"); a.status != http.StatusCreated {
		t.Errorf("an order without a token: %d %s", a.status, a.body)
	}
	if a := call(t, s, http.MethodGet, "/api/admin/error-log", "", "", bearer("s3cret-admin")...); a.status != http.StatusOK {
		t.Errorf("the error log with the token: %d %s", a.status, a.body)
	}
	if a := call(t, s, http.MethodPut, "/api/admin/stage", "application/json", `{"stage": 1}`, bearer("s3cret-admin")...); a.status != http.StatusOK || active(s) != 1 {
		t.Errorf("a switch with the token: %d %s, stage %d", a.status, a.body, active(s))
	}
}

// jar is a browser of a test server that keeps its cookies.
type jar struct {
	t       *testing.T
	s       *Server
	cookies map[string]*http.Cookie
	csrf    string
}

func (b *jar) do(method, target string, form url.Values, header ...string) (*http.Response, *goquery.Document) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		form.Set("_csrf", b.csrf)
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	resp, err := b.s.App().Test(req, -1)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	if tok, ok := doc.Find(`input[name="_csrf"]`).First().Attr("value"); ok && tok != "" {
		b.csrf = tok
	}
	return resp, doc
}

func TestTheAdminTokenLocksTheAdminPagesUntilSignIn(t *testing.T) {
	log, calls := testEntries(), 0
	s := newAuthServer(t, Config{AdminToken: "s3cret-admin"}, log, &calls, true)
	b := &jar{t: t, s: s, cookies: map[string]*http.Cookie{}}
	if resp, _ := b.do(http.MethodGet, "/orders/new", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("an attendee's page: %d", resp.StatusCode)
	}
	signIn := func(resp *http.Response, doc *goquery.Document, what string) {
		t.Helper()
		if resp.StatusCode != http.StatusUnauthorized || doc.Find(`[data-testid="sign-in-form"]`).Length() != 1 {
			t.Errorf("%s: %d, sign-in form %d, want 401 with the sign-in page", what, resp.StatusCode, doc.Find(`[data-testid="sign-in-form"]`).Length())
		}
	}
	resp, doc := b.do(http.MethodPost, "/stage", url.Values{"stage": {"1"}})
	signIn(resp, doc, "switch")
	resp, doc = b.do(http.MethodPost, "/admin/error-log", url.Values{"all": {"1"}})
	signIn(resp, doc, "replay all")
	resp, doc = b.do(http.MethodPost, "/admin/error-log/1/discard", url.Values{})
	signIn(resp, doc, "discard")
	resp, doc = b.do(http.MethodGet, "/admin/error-log", nil)
	signIn(resp, doc, "the error log")
	resp, _ = b.do(http.MethodPost, "/stage", url.Values{"stage": {"1"}}, "HX-Request", "true")
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("HX-Redirect"), "/sign-in") {
		t.Errorf("an htmx switch: %d, HX-Redirect %q", resp.StatusCode, resp.Header.Get("HX-Redirect"))
	}
	if active(s) != 0 || len(log.replays) != 0 {
		t.Fatalf("refused requests changed something: stage %d, replays %v", active(s), log.replays)
	}

	// A wrong token: the form again, no session.
	resp, doc = b.do(http.MethodPost, "/sign-in", url.Values{"token": {"guess"}, "next": {"/admin/error-log"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || doc.Find(`[data-testid="sign-in-message"]`).Length() != 1 || b.cookies[adminCookie] != nil {
		t.Fatalf("a wrong token: %d, cookie %v", resp.StatusCode, b.cookies[adminCookie])
	}
	resp, _ = b.do(http.MethodPost, "/sign-in", url.Values{"token": {"s3cret-admin"}, "next": {"/admin/error-log"}})
	session := b.cookies[adminCookie]
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/error-log" || session == nil {
		t.Fatalf("sign-in: %d to %q, cookie %v", resp.StatusCode, resp.Header.Get("Location"), session)
	}
	if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || strings.Contains(session.Value, "s3cret-admin") {
		t.Errorf("the session cookie %+v", session)
	}
	if resp, _ := b.do(http.MethodGet, "/admin/error-log", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the error log signed in: %d", resp.StatusCode)
	}
	if resp, _ := b.do(http.MethodPost, "/stage", url.Values{"stage": {"1"}}); resp.StatusCode != http.StatusSeeOther || active(s) != 1 {
		t.Errorf("a switch signed in: %d, stage %d", resp.StatusCode, active(s))
	}
	// A forged or altered session is no session.
	for _, forged := range []string{"s3cret-admin", session.Value + "x", "9999999999." + strings.SplitN(session.Value, ".", 2)[1][1:]} {
		b.cookies[adminCookie] = &http.Cookie{Name: adminCookie, Value: forged}
		resp, doc = b.do(http.MethodPost, "/stage", url.Values{"stage": {"0"}})
		signIn(resp, doc, "a forged session")
	}
	if active(s) != 1 {
		t.Errorf("a forged session switched to stage %d", active(s))
	}
	// The API takes the token, not the session.
	b.cookies[adminCookie] = session
	if resp, _ := b.do(http.MethodGet, "/api/admin/stage", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the admin API with the page's session: %d", resp.StatusCode)
	}
	// An offsite next is not followed.
	resp, _ = b.do(http.MethodPost, "/sign-in", url.Values{"token": {"s3cret-admin"}, "next": {"//evil.example/x"}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/orders" {
		t.Errorf("sign-in to //evil.example: %d to %q", resp.StatusCode, loc)
	}
}

func TestWithoutAnAdminTokenAdminActionsAreForThisMachineOnly(t *testing.T) {
	log, calls := testEntries(), 0
	s := newAuthServer(t, Config{}, log, &calls, false) // the test client is 0.0.0.0: not loopback
	if a := call(t, s, http.MethodPut, "/api/admin/stage", "application/json", `{"stage": 1}`); a.status != http.StatusForbidden || a.ctype != "application/problem+json" {
		t.Errorf("a remote switch: %d %s", a.status, a.body)
	}
	if a := call(t, s, http.MethodPost, "/api/admin/error-log/replay", "application/json", `{"all": true}`); a.status != http.StatusForbidden {
		t.Errorf("a remote replay: %d %s", a.status, a.body)
	}
	b := &jar{t: t, s: s, cookies: map[string]*http.Cookie{}}
	b.do(http.MethodGet, "/orders/new", nil)
	if resp, _ := b.do(http.MethodPost, "/stage", url.Values{"stage": {"1"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a remote switch from the page: %d", resp.StatusCode)
	}
	if active(s) != 0 || len(log.replays) != 0 {
		t.Fatalf("remote requests changed something: stage %d, replays %v", active(s), log.replays)
	}
	if a := call(t, s, http.MethodPost, "/api/orders", "application/json", "{}"); a.status != http.StatusCreated {
		t.Errorf("a remote order: %d %s", a.status, a.body)
	}
	// From this machine, over a real connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.App().Listener(ln) //nolint:errcheck // ends with Shutdown below
	t.Cleanup(func() { _ = s.App().Shutdown() })
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPut, "http://"+ln.Addr().String()+"/api/admin/stage", strings.NewReader(`{"stage": 1}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || active(s) != 1 {
		t.Errorf("a switch from this machine: %d, stage %d", resp.StatusCode, active(s))
	}
}

func TestAPITokensNeedTheirScope(t *testing.T) {
	tokens, err := ParseAPITokens("reader:orders:read,writer:orders:write+orders:read,boss:admin")
	if err != nil {
		t.Fatal(err)
	}
	log, calls := testEntries(), 0
	s := newAuthServer(t, Config{APITokens: tokens}, log, &calls, true)
	for _, c := range []struct {
		method, target, token string
		status                int
	}{
		{http.MethodGet, "/api/queries/dashboard", "", http.StatusUnauthorized},
		{http.MethodGet, "/api/queries/dashboard", "nobody", http.StatusUnauthorized},
		{http.MethodGet, "/api/queries/dashboard", "boss", http.StatusForbidden},
		{http.MethodPost, "/api/commands/ship-order", "", http.StatusUnauthorized},
		{http.MethodPost, "/api/commands/ship-order", "reader", http.StatusForbidden},
		{http.MethodPost, "/api/orders", "reader", http.StatusForbidden},
		{http.MethodPost, "/api/orders", "boss", http.StatusForbidden},
		{http.MethodGet, "/api/admin/stage", "", http.StatusUnauthorized},
		{http.MethodGet, "/api/admin/stage", "writer", http.StatusForbidden},
		{http.MethodPut, "/api/admin/stage", "writer", http.StatusForbidden},
		{http.MethodPost, "/api/admin/error-log/replay", "reader", http.StatusForbidden},
	} {
		body, ctype := "", ""
		if c.method != http.MethodGet {
			body, ctype = `{"stage": 1, "all": true}`, "application/json"
		}
		var auth []string
		if c.token != "" {
			auth = bearer(c.token)
		}
		a := call(t, s, c.method, c.target, ctype, body, auth...)
		if a.status != c.status || a.ctype != "application/problem+json" {
			t.Errorf("%s %s with %q: %d %s, want %d problem JSON", c.method, c.target, c.token, a.status, a.body, c.status)
		}
	}
	if calls != 0 || active(s) != 0 || len(log.replays) != 0 {
		t.Fatalf("refused requests reached the stage %d times, stage %d, replays %v", calls, active(s), log.replays)
	}
	for _, c := range []struct {
		method, target, token string
		status                int
	}{
		{http.MethodGet, "/api/queries/dashboard", "reader", http.StatusOK},
		{http.MethodGet, "/api/queries/dashboard", "writer", http.StatusOK},
		{http.MethodPost, "/api/commands/ship-order", "writer", http.StatusNoContent},
		{http.MethodPost, "/api/orders", "writer", http.StatusCreated},
		{http.MethodGet, "/api/admin/stage", "boss", http.StatusOK},
	} {
		ctype, body := "", ""
		if c.method != http.MethodGet {
			ctype, body = "application/json", "{}"
		}
		if a := call(t, s, c.method, c.target, ctype, body, bearer(c.token)...); a.status != c.status {
			t.Errorf("%s %s with %q: %d %s, want %d", c.method, c.target, c.token, a.status, a.body, c.status)
		}
	}
	// The pages are not the API: a browser needs no token to browse.
	if a := call(t, s, http.MethodGet, "/healthz", "", ""); a.status != http.StatusOK {
		t.Errorf("healthz: %d", a.status)
	}
}

func TestParseAPITokens(t *testing.T) {
	got, err := ParseAPITokens(" a:orders:read , b:admin+orders:write ")
	if err != nil || len(got) != 2 || got[0].Token != "a" || len(got[0].Scopes) != 1 || got[0].Scopes[0] != ScopeOrdersRead ||
		got[1].Token != "b" || len(got[1].Scopes) != 2 || got[1].Scopes[0] != ScopeAdmin || got[1].Scopes[1] != ScopeOrdersWrite {
		t.Errorf("got %+v, %v", got, err)
	}
	for _, bad := range []string{"a", "a:", ":admin", "a:orders:delete", "a:admin,a:orders:read", "a b:admin", "a:admin+"} {
		if _, err := ParseAPITokens(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
	if got, err := ParseAPITokens(""); err != nil || got != nil {
		t.Errorf("empty: %v, %v", got, err)
	}
}

func TestTheRateLimitRefusesTheJSONAPIsBeyondItsRate(t *testing.T) {
	calls := 0
	s := newAuthServer(t, Config{RateLimit: 2}, testEntries(), &calls, true)
	refused := 0
	for i := 0; i < 6; i++ {
		req := httptest.NewRequest(http.MethodGet, "/api/queries/dashboard", nil)
		resp, err := s.App().Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
		case http.StatusTooManyRequests:
			refused++
			if resp.Header.Get("Retry-After") == "" || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("429 with Retry-After %q, %s", resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"))
			}
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if refused == 0 || calls+refused != 6 {
		t.Errorf("6 requests at a limit of 2/s: %d refused, %d reached the stage", refused, calls)
	}
	// The pages are not limited.
	for i := 0; i < 6; i++ {
		if a := call(t, s, http.MethodGet, "/healthz", "", ""); a.status != http.StatusOK {
			t.Fatalf("healthz: %d", a.status)
		}
	}
}

// TestAProxiedRequestIsNotLocal: behind a proxy on this machine every
// client would come from loopback; a request that says whom it forwards
// gets no admin action without the token.
func TestAProxiedRequestIsNotLocal(t *testing.T) {
	log, calls := testEntries(), 0
	s := newAuthServer(t, Config{}, log, &calls, true) // the test client counts as this machine
	for _, h := range []string{"X-Forwarded-For", "Forwarded", "X-Real-Ip"} {
		a := call(t, s, http.MethodPut, "/api/admin/stage", "application/json", `{"stage": 1}`, h, "203.0.113.7")
		if a.status != http.StatusForbidden {
			t.Errorf("a switch forwarded with %s: %d %s", h, a.status, a.body)
		}
	}
	if active(s) != 0 {
		t.Fatalf("a forwarded request switched the stage to %d", active(s))
	}
	if a := call(t, s, http.MethodPut, "/api/admin/stage", "application/json", `{"stage": 1}`); a.status != http.StatusOK || active(s) != 1 {
		t.Errorf("a switch from this machine: %d %s", a.status, a.body)
	}
}

// TestGuessingTheAdminTokenIsLimited: the sign-in form takes five tries a
// minute from one address, rate limit or not.
func TestGuessingTheAdminTokenIsLimited(t *testing.T) {
	log, calls := testEntries(), 0
	s := newAuthServer(t, Config{AdminToken: "s3cret-admin"}, log, &calls, false)
	b := &jar{t: t, s: s, cookies: map[string]*http.Cookie{}}
	b.do(http.MethodGet, "/sign-in", nil)
	statuses := []int{}
	for i := range 7 {
		resp, _ := b.do(http.MethodPost, "/sign-in", url.Values{"token": {fmt.Sprint("guess-", i)}})
		statuses = append(statuses, resp.StatusCode)
	}
	if statuses[0] == http.StatusTooManyRequests || statuses[6] != http.StatusTooManyRequests {
		t.Fatalf("sign-in answers: %v, want the sixth on refused with 429", statuses)
	}
}
