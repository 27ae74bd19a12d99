package bff

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/csrf"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/gofiber/fiber/v2/middleware/helmet"
	"github.com/gofiber/fiber/v2/middleware/limiter"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"go.opentelemetry.io/otel/trace"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/metrics"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/internal/tracing"
	"github.com/staircase/staircase/web"
)

// Config configures the BFF.
type Config struct {
	// Switch holds the stages and the active one. Required.
	Switch *Switch
	// Descriptions describe every stage of the staircase, numbered from 0
	// in order, whether this server runs it or not: the architecture page
	// shows each one's diagram, and a stage the server runs needs one.
	Descriptions []stageview.Description
	// Health answers whether the database answers, for the readiness of a
	// stage that does not report its own (Readier); nil means it does.
	Health func(ctx context.Context) error
	// Logger gets the access log and errors; nil means slog.Default().
	Logger *slog.Logger
	// ReadTimeout and WriteTimeout bound a request; zero gives 15 s and 60 s.
	ReadTimeout, WriteTimeout time.Duration
	// Source is the source files of the stages, for the architecture page;
	// nil hides the source links.
	Source fs.FS
	// Metrics is the process's registry that GET /metrics serves and
	// that counts the responses; nil gives the BFF one of its own.
	Metrics *metrics.Registry
	// Hosts are the host names and addresses the server answers to, by
	// the request's Host (its port ignored): anything else is a 421
	// problem, so that a site whose name is made to resolve to this
	// machine (DNS rebinding) gets nothing. Empty means LoopbackHosts;
	// AnyHost answers any host.
	Hosts []string
	// AdminToken, when set, locks the admin actions (the stage switch,
	// rebuilds, the error log and the rest of /api/admin): the API needs
	// it as a bearer token, the pages a sign-in with it. Empty leaves
	// them open to clients on this machine only.
	AdminToken string
	// APITokens, when any, lock the JSON APIs: each request needs a
	// bearer token with its scope (queries ScopeOrdersRead, commands and
	// other unsafe requests ScopeOrdersWrite, /api/admin ScopeAdmin). The
	// admin token holds every scope.
	APITokens []APIToken
	// RateLimit caps the JSON API requests of each client address per
	// second: beyond it a 429 problem with Retry-After. Zero, the
	// default, sets no cap.
	RateLimit int
	// Workshop, when set, turns on the workshop controls of stage
	// WorkshopStage (staircase serve --workshop): the workshop admin API
	// and a panel on that stage's architecture page. Nil: the API answers
	// 404 and no panel shows.
	Workshop      Workshop
	WorkshopStage int
	// Reset, when set (with the workshop controls), empties the data
	// while serving: POST /api/admin/reset and the workshop panel's
	// "Reset data". Nil: both answer 404.
	Reset Resetter
	// Processes lists the app's running processes (the process registry)
	// for the architecture page; nil shows none.
	Processes Processes
	// Tracing traces each request (trace.go) and keeps the recent traces
	// for the traces pages; nil traces nothing.
	Tracing *tracing.Tracing

	// isLocal tells whether a client address is on this machine, for
	// admin actions without a token; nil means a loopback address. Tests
	// through App().Test, whose client is 0.0.0.0, set it.
	isLocal func(net.IP) bool
}

// ContentSecurityPolicy is the policy every response carries: scripts,
// styles and everything else from this origin only, no inline code.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

// Server is the BFF.
type Server struct {
	cfg    Config
	app    *fiber.App
	apis   map[int]*fiber.App
	log    *slog.Logger
	health func(ctx context.Context) error
	// writes and live: freshness of what the UI wrote (freshness.go, sse.go).
	writes *writes
	live   liveTiming
	// running counts the handlers running (shutdown.go).
	running atomic.Int64
	// rebuilds is the read database's rebuild job (rebuild.go).
	rebuilds rebuildJobs
	// sides counts the requests that are commands or queries (live.go).
	sides *metrics.CounterVec
	// hosts are the Host names answered (guard.go); nil answers any.
	hosts hostSet
	// access holds the tokens (auth.go).
	access *access
	// changes and streams feed and bound the live streams (changes.go).
	changes *changeHub
	streams *streamCounts
	// tracer makes the requests' spans (trace.go); nil: none.
	tracer trace.Tracer
}

const (
	localStage = "stage"
	localCSRF  = "csrf"
)

// New builds the Fiber app.
func New(cfg Config) (*Server, error) {
	if cfg.Switch == nil {
		return nil, errors.New("bff: no stage switch")
	}
	for i, d := range cfg.Descriptions {
		if d.Number != i {
			return nil, fmt.Errorf("bff: description %d is of stage %d", i, d.Number)
		}
	}
	for _, n := range cfg.Switch.Numbers() {
		if n < 0 || n >= len(cfg.Descriptions) {
			return nil, fmt.Errorf("bff: stage %d has no description", n)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 15 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 60 * time.Second
	}
	s := &Server{cfg: cfg, log: cfg.Logger, health: cfg.Health, apis: map[int]*fiber.App{}, hosts: newHostSet(cfg.Hosts), access: newAccess(cfg),
		changes: newChangeHub(), streams: &streamCounts{}}
	s.tracer = cfg.Tracing.Tracer()
	for _, n := range cfg.Switch.Numbers() {
		if cn, ok := cfg.Switch.stages[n].(ChangeNotifier); ok {
			cn.NotifyChanges(s.changes.publish)
		}
	}
	s.writes, s.live = newWrites(writeTTL, maxWrites), defaultLiveTiming(cfg.WriteTimeout)
	s.app = fiber.New(fiber.Config{
		AppName:               "staircase",
		BodyLimit:             httpapi.MaxBody,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           2 * time.Minute,
		ErrorHandler:          s.errorHandler,
		DisableStartupMessage: true,
		// The guards decide by path (admin scope, fence, CSRF exemptions):
		// a route must not answer to a path they read otherwise.
		CaseSensitive: true,
	})
	for _, n := range cfg.Switch.Numbers() {
		s.apis[n] = s.stageAPI(n)
	}
	s.routes()
	return s, nil
}

// App returns the Fiber app, to listen with or to test.
func (s *Server) App() *fiber.App { return s.app }

func (s *Server) routes() {
	app := s.app
	app.Use(s.countRequests)
	app.Use(recover.New(recover.Config{EnableStackTrace: true, StackTraceHandler: func(c *fiber.Ctx, e any) {
		s.log.ErrorContext(c.UserContext(), "panic", "method", c.Method(), "path", c.Path(), "panic", e)
	}}))
	app.Use(dropBadRequestID, requestid.New())
	app.Use(s.traceRequests) // trace.go
	// guard.go: before anything answers, or reads a body.
	app.Use(s.checkHost, s.refuseEncodedBodies)
	s.metricsRoutes(app)
	app.Use(s.accessLog)
	app.Use(helmet.New(helmet.Config{
		ContentSecurityPolicy:     ContentSecurityPolicy,
		ReferrerPolicy:            "same-origin",
		CrossOriginEmbedderPolicy: "require-corp",
		CrossOriginOpenerPolicy:   "same-origin",
		CrossOriginResourcePolicy: "same-origin",
		PermissionPolicy:          "camera=(), microphone=(), geolocation=()",
	}))
	// Take the active stage once per request.
	app.Use(func(c *fiber.Ctx) error {
		n, _ := s.cfg.Switch.Active()
		c.Locals(localStage, n)
		return c.Next()
	})

	app.Get("/healthz", s.healthz)
	app.Get("/readyz", s.readyz)
	app.Use("/static", filesystem.New(filesystem.Config{Root: http.FS(web.Static), PathPrefix: "static", MaxAge: 3600}))

	api := app.Group("/api", s.rateLimit(), s.apiGuard, s.authorizeAPI)
	s.stageAPIRoutes(api) // before the rest of the admin API and the stage's API
	s.workshopAPIRoutes(api)
	s.resetAPIRoutes(api)
	s.adminAPIRoutes(api) // before the stage's API: it answers in every stage
	s.eventAPIRoutes(api) // events.go
	api.All("/*", s.fenceWrites, s.dispatchAPI)

	ui := app.Group("", csrf.New(csrf.Config{
		CookieName:     "staircase_csrf",
		CookieSameSite: "Strict",
		CookieHTTPOnly: true,
		Expiration:     12 * time.Hour,
		ContextKey:     localCSRF,
		Extractor:      csrfFromHeaderOrForm,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			return fiber.NewError(http.StatusForbidden, "This form has expired. Reload the page and try again.")
		},
	}))
	s.signInRoutes(ui)
	s.pageRoutes(ui)
	s.liveRoutes(ui)
	s.processRoutes(ui)
	s.rebuildRoutes(ui)
	s.workshopRoutes(ui)
	s.eventRoutes(ui)
	s.tourRoutes(ui)
	s.resetRoutes(ui)
	s.traceRoutes(ui)
	app.Use(func(c *fiber.Ctx) error {
		unrouted(c)
		return fiber.ErrNotFound
	})
}

// rateLimit caps each client's JSON API requests at Config.RateLimit a
// second; it lets all through at 0.
func (s *Server) rateLimit() fiber.Handler {
	if s.cfg.RateLimit <= 0 {
		return func(c *fiber.Ctx) error { return c.Next() }
	}
	return limiter.New(limiter.Config{
		Max:          s.cfg.RateLimit,
		Expiration:   time.Second,
		KeyGenerator: func(c *fiber.Ctx) string { return c.IP() },
		LimitReached: func(c *fiber.Ctx) error {
			// The limiter has set Retry-After.
			return fiber.NewError(http.StatusTooManyRequests, "too many requests from this address: at most "+strconv.Itoa(s.cfg.RateLimit)+" a second")
		},
	})
}

func csrfFromHeaderOrForm(c *fiber.Ctx) (string, error) {
	if t := c.Get("X-CSRF-Token"); t != "" {
		return t, nil
	}
	if t := c.FormValue("_csrf"); t != "" {
		return t, nil
	}
	return "", csrf.ErrTokenNotFound
}

// apiGuard keeps the JSON APIs for scripts: an unsafe request must be
// JSON (which a cross-site HTML form cannot send) and nothing cross-origin
// is allowed.
func (s *Server) apiGuard(c *fiber.Ctx) error {
	if site := c.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return fiber.NewError(http.StatusForbidden, "the API does not accept cross-origin requests")
	}
	if origin := c.Get(fiber.HeaderOrigin); origin != "" && origin != c.BaseURL() {
		return fiber.NewError(http.StatusForbidden, "the API does not accept cross-origin requests")
	}
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead:
	case fiber.MethodOptions:
		return fiber.NewError(http.StatusForbidden, "the API does not accept cross-origin requests")
	default:
		ct := strings.ToLower(strings.TrimSpace(strings.Split(c.Get(fiber.HeaderContentType), ";")[0]))
		if ct != fiber.MIMEApplicationJSON && !(len(c.Body()) == 0 && c.Method() == fiber.MethodDelete) {
			return fiber.NewError(http.StatusUnsupportedMediaType, "send the body as Content-Type: application/json")
		}
	}
	return c.Next()
}

// stageAPI builds the sub-app holding stage n's JSON API; requests reach it
// only while n is the active stage.
func (s *Server) stageAPI(n int) *fiber.App {
	sub := fiber.New(fiber.Config{ErrorHandler: s.errorHandler, DisableStartupMessage: true, CaseSensitive: true})
	sub.Use(recordRoute) // metrics.go
	s.cfg.Switch.stages[n].Routes(sub)
	sub.Use(func(c *fiber.Ctx) error {
		unrouted(c)
		return fiber.NewError(http.StatusNotFound, "stage "+strconv.Itoa(n)+" is active and has no "+c.Method()+" "+c.Path()+"; "+s.cfg.Descriptions[n].API)
	})
	return sub
}

func (s *Server) dispatchAPI(c *fiber.Ctx) error {
	n := c.Locals(localStage).(int)
	s.apis[n].Handler()(c.Context())
	return nil
}

func (s *Server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		if herr := s.app.ErrorHandler(c, err); herr != nil {
			_ = c.SendStatus(http.StatusInternalServerError)
		}
	}
	level := slog.LevelInfo
	status := c.Response().StatusCode()
	if status >= 500 {
		level = slog.LevelError
	}
	// Body() would read a streamed body (server-sent events) to its end
	// here; a stream's length is its Content-Length, or -1.
	size := c.Response().Header.ContentLength()
	if !c.Response().IsBodyStream() {
		size = len(c.Response().Body())
	}
	s.log.Log(c.UserContext(), level, "request",
		"method", c.Method(), "path", c.Path(), "status", status,
		"duration_ms", float64(time.Since(start).Microseconds())/1000,
		"bytes", size, "request_id", c.GetRespHeader(fiber.HeaderXRequestID),
		"stage", c.Locals(localStage), "ip", c.IP())
	return nil
}

// errorHandler renders problem JSON under /api and for JSON clients, and
// an error page for browsers.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	if strings.HasPrefix(c.Path(), "/api/") || c.Path() == "/api" || c.Get(fiber.HeaderAccept) == fiber.MIMEApplicationJSON {
		return httpapi.WriteProblem(c, err)
	}
	p := httpapi.ProblemFor(err)
	if p.Status >= 500 {
		s.log.ErrorContext(c.UserContext(), "request failed", "method", c.Method(), "path", c.Path(), "err", err)
	}
	title := p.Title
	msg := p.Detail
	if p.Status == http.StatusNotFound && msg == "" || msg == "Cannot "+c.Method()+" "+c.Path() {
		msg = "There is nothing at this address."
	}
	return s.render(c, p.Status, web.ErrorPage(s.chrome(c, title, ""), p.Status, title, msg))
}
