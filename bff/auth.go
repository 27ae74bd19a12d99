package bff

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"

	"github.com/staircase/staircase/web"
)

// Who may do what. By default (a workshop on one machine) everything is
// open to this machine, and the admin actions — switching the stage,
// rebuilding, the error log — to it only. Config.AdminToken locks the admin
// actions behind a token (a bearer token on the API, a signed-in session
// in the browser), so that attendees on other machines can browse and
// place orders but not switch the stage under the presenter;
// Config.APITokens locks the JSON APIs behind bearer tokens with scopes.
//
// Fiber's keyauth middleware was weighed: it answers every failure with
// 401, while a known token without the scope is a 403 here, and admin
// actions fall back to the loopback rule when no token is set.

// Scope is what an API token allows.
type Scope string

// The scopes: the JSON APIs' queries, their commands (and stage 0's unsafe
// /api/orders), and the admin API.
const (
	ScopeOrdersRead  Scope = "orders:read"
	ScopeOrdersWrite Scope = "orders:write"
	ScopeAdmin       Scope = "admin"
)

// APIToken is a bearer token of the JSON APIs and its scopes.
type APIToken struct {
	Token  string
	Scopes []Scope
}

// ParseAPITokens reads "token:scope+scope,token:scope,…", e.g.
// "r3ad:orders:read,wr1te:orders:read+orders:write"; empty gives none.
func ParseAPITokens(spec string) ([]APIToken, error) {
	var out []APIToken
	seen := map[string]bool{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		token, scopes, ok := strings.Cut(item, ":")
		if !ok || token == "" || scopes == "" {
			return nil, fmt.Errorf("API token %q: want token:scope+scope", redact(item))
		}
		if strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return nil, fmt.Errorf("API token %q: a token has no spaces or control characters", redact(token))
		}
		if seen[token] {
			return nil, fmt.Errorf("API token %q is listed twice", redact(token))
		}
		seen[token] = true
		t := APIToken{Token: token}
		for _, sc := range strings.Split(scopes, "+") {
			switch s := Scope(sc); s {
			case ScopeOrdersRead, ScopeOrdersWrite, ScopeAdmin:
				t.Scopes = append(t.Scopes, s)
			default:
				return nil, fmt.Errorf("API token %q: unknown scope %q (want %s, %s or %s)", redact(token), sc, ScopeOrdersRead, ScopeOrdersWrite, ScopeAdmin)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// redact keeps a token out of an error message but for its start.
func redact(s string) string {
	if len(s) <= 3 {
		return "…"
	}
	return s[:3] + "…"
}

// access holds the tokens, hashed, for lookups in constant time.
type access struct {
	admin      *[sha256.Size]byte // the admin token's hash; nil without one
	sessionKey []byte             // signs browser sessions
	tokens     []hashedToken
	isLocal    func(net.IP) bool
}

type hashedToken struct {
	sum    [sha256.Size]byte
	scopes []Scope
}

func newAccess(cfg Config) *access {
	a := &access{isLocal: cfg.isLocal}
	if a.isLocal == nil {
		a.isLocal = net.IP.IsLoopback
	}
	if cfg.AdminToken != "" {
		sum := sha256.Sum256([]byte(cfg.AdminToken))
		a.admin = &sum
		// Derived from the token: a new token ends every session, and the
		// instances of one deployment share them.
		mac := hmac.New(sha256.New, []byte(cfg.AdminToken))
		mac.Write([]byte("staircase admin session"))
		a.sessionKey = mac.Sum(nil)
	}
	for _, t := range cfg.APITokens {
		a.tokens = append(a.tokens, hashedToken{sha256.Sum256([]byte(t.Token)), t.Scopes})
	}
	return a
}

// lookup returns the scopes of token: every one for the admin token. It
// compares with every known token, in constant time each.
func (a *access) lookup(token string) ([]Scope, bool) {
	sum := sha256.Sum256([]byte(token))
	var scopes []Scope
	found := false
	if a.admin != nil && subtle.ConstantTimeCompare(sum[:], a.admin[:]) == 1 {
		scopes, found = []Scope{ScopeOrdersRead, ScopeOrdersWrite, ScopeAdmin}, true
	}
	for _, t := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 && !found {
			scopes, found = t.scopes, true
		}
	}
	return scopes, found
}

func (a *access) isAdminToken(token string) bool {
	sum := sha256.Sum256([]byte(token))
	return a.admin != nil && subtle.ConstantTimeCompare(sum[:], a.admin[:]) == 1
}

// local tells whether the client is on this machine. A request that came
// through a proxy (it says whom it forwards) is not: behind a proxy on this
// machine every client would look local.
func (a *access) local(c *fiber.Ctx) bool {
	for _, h := range []string{fiber.HeaderXForwardedFor, "Forwarded", "X-Real-Ip"} {
		if c.Get(h) != "" {
			return false
		}
	}
	ip := net.ParseIP(c.IP())
	return ip != nil && a.isLocal(ip)
}

// bearerToken is the request's "Authorization: Bearer <token>".
func bearerToken(c *fiber.Ctx) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(c.Get(fiber.HeaderAuthorization)), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// scopeFor is the scope a JSON API request needs.
func scopeFor(method, path string) Scope {
	// Routing is case-sensitive; lower-casing here too fails closed should
	// that ever change.
	path = strings.ToLower(path)
	switch {
	case path == "/api/admin" || strings.HasPrefix(path, "/api/admin/"):
		return ScopeAdmin
	case method == fiber.MethodGet || method == fiber.MethodHead:
		return ScopeOrdersRead
	}
	return ScopeOrdersWrite
}

var (
	errNoToken      = fiber.NewError(http.StatusUnauthorized, "send a token this server knows as Authorization: Bearer <token>")
	errAdminIsLocal = fiber.NewError(http.StatusForbidden,
		"admin actions are open only on the machine the app runs on; start it with --admin-token to allow them from elsewhere")
)

// authorizeAPI lets through a JSON API request whose bearer token has the
// scope it needs: the admin API needs one when an admin token or API
// tokens are set (else the client must be on this machine), the rest when
// API tokens are set.
func (s *Server) authorizeAPI(c *fiber.Ctx) error {
	a, need := s.access, scopeFor(c.Method(), c.Path())
	switch {
	case need == ScopeAdmin && a.admin == nil && len(a.tokens) == 0:
		if a.local(c) {
			return c.Next()
		}
		return errAdminIsLocal
	case need != ScopeAdmin && len(a.tokens) == 0:
		return c.Next()
	}
	token, ok := bearerToken(c)
	if !ok {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="staircase"`)
		return errNoToken
	}
	scopes, found := a.lookup(token)
	if !found {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="staircase", error="invalid_token"`)
		return errNoToken
	}
	if !slices.Contains(scopes, need) {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="staircase", error="insufficient_scope", scope="`+string(need)+`"`)
		return fiber.NewError(http.StatusForbidden, "this token does not have the scope "+string(need))
	}
	return c.Next()
}

// Browser sessions for admin actions.

const (
	adminCookie = "staircase_admin"
	sessionTTL  = 12 * time.Hour
)

// sessionValue is "<expiry>.<HMAC of it>": it proves a sign-in until the
// expiry without holding the token.
func (a *access) sessionValue(expiry time.Time) string {
	exp := strconv.FormatInt(expiry.Unix(), 10)
	return exp + "." + base64.RawURLEncoding.EncodeToString(a.sign(exp))
}

func (a *access) sign(exp string) []byte {
	mac := hmac.New(sha256.New, a.sessionKey)
	mac.Write([]byte("admin." + exp))
	return mac.Sum(nil)
}

func (a *access) validSession(value string, now time.Time) bool {
	if a.sessionKey == nil {
		return false
	}
	exp, sig, ok := strings.Cut(value, ".")
	if !ok {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, a.sign(exp)) {
		return false
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	return err == nil && now.Before(time.Unix(unix, 0))
}

// signedIn tells whether the browser holds a valid admin session, or the
// request the admin token.
func (s *Server) signedIn(c *fiber.Ctx) bool {
	if s.access.validSession(c.Cookies(adminCookie), time.Now()) {
		return true
	}
	token, ok := bearerToken(c)
	return ok && s.access.isAdminToken(token)
}

// requireAdmin guards an admin action of the pages: with an admin token it
// needs a sign-in (else the sign-in page, 401); without one, a client on
// this machine.
func (s *Server) requireAdmin(c *fiber.Ctx) error {
	if s.access.admin == nil {
		if s.access.local(c) {
			return c.Next()
		}
		return errAdminIsLocal
	}
	if s.signedIn(c) {
		return c.Next()
	}
	if c.Get(fiber.HeaderAccept) == fiber.MIMEApplicationJSON {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="staircase"`)
		return fiber.NewError(http.StatusUnauthorized, "admin actions need a sign-in, or the admin token as Authorization: Bearer <token>")
	}
	next := c.OriginalURL()
	if c.Method() != fiber.MethodGet {
		next = "/orders"
		if ref, err := url.Parse(c.Get(fiber.HeaderReferer)); err == nil {
			next = localPath(ref.RequestURI())
		}
	}
	if c.Get("HX-Request") == "true" {
		// htmx swaps no 401: have it load the sign-in page instead.
		c.Set("HX-Redirect", "/sign-in?next="+url.QueryEscape(next))
	}
	return s.render(c, http.StatusUnauthorized, web.SignInPage(s.chrome(c, "Sign in", ""),
		web.SignInView{Next: next, Enabled: true, Message: "This is an admin action: sign in with the admin token first."}))
}

// localPath is p when it is a path on this site, else /orders: a sign-in
// must not send the browser elsewhere.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n") {
		return "/orders"
	}
	return p
}

func (s *Server) signInRoutes(r fiber.Router) {
	r.Get("/sign-in", s.signInPage)
	// However the API is limited, guessing the admin token is: five tries
	// a minute from one address.
	r.Post("/sign-in", limiter.New(limiter.Config{
		Max: 5, Expiration: time.Minute,
		KeyGenerator: func(c *fiber.Ctx) string { return c.IP() },
		LimitReached: func(c *fiber.Ctx) error {
			return fiber.NewError(http.StatusTooManyRequests, "Too many sign-in attempts from this address; wait a minute.")
		},
	}), s.signIn)
	r.Post("/sign-out", s.signOut)
}

func (s *Server) signInView(c *fiber.Ctx, next string) web.SignInView {
	v := web.SignInView{Next: localPath(next), Enabled: s.access.admin != nil, SignedIn: s.signedIn(c)}
	if !v.Enabled {
		v.Message = "This server has no admin token: admin actions are open on the machine it runs on, and only there."
	}
	return v
}

func (s *Server) signInPage(c *fiber.Ctx) error {
	return s.render(c, http.StatusOK, web.SignInPage(s.chrome(c, "Sign in", ""), s.signInView(c, c.Query("next"))))
}

func (s *Server) signIn(c *fiber.Ctx) error {
	v := s.signInView(c, c.FormValue("next"))
	if !v.Enabled {
		return s.render(c, http.StatusUnprocessableEntity, web.SignInPage(s.chrome(c, "Sign in", ""), v))
	}
	if !s.access.isAdminToken(c.FormValue("token")) {
		s.log.WarnContext(c.UserContext(), "admin sign-in with a wrong token", "ip", c.IP())
		v.Message = "That is not the admin token."
		return s.render(c, http.StatusUnprocessableEntity, web.SignInPage(s.chrome(c, "Sign in", ""), v))
	}
	expiry := time.Now().Add(sessionTTL)
	c.Cookie(&fiber.Cookie{Name: adminCookie, Value: s.access.sessionValue(expiry), Path: "/", Expires: expiry,
		HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode, Secure: c.Protocol() == "https"})
	s.log.InfoContext(c.UserContext(), "admin signed in", "ip", c.IP())
	return c.Redirect(v.Next, http.StatusSeeOther)
}

func (s *Server) signOut(c *fiber.Ctx) error {
	c.Cookie(&fiber.Cookie{Name: adminCookie, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(0, 0),
		HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode, Secure: c.Protocol() == "https"})
	return c.Redirect("/orders", http.StatusSeeOther)
}
