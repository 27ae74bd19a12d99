package bff

import (
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/staircase/staircase/internal/metrics"
)

// routeKey is where a stage's API sub-app leaves the route pattern that
// served a request, for the latency histogram: the main app only sees
// /api/*.
const routeKey = "staircase.route"

// metricsRoutes counts every response by status code, times it by route
// pattern and stage, and serves GET /metrics: this process's metrics in the
// format Prometheus asks for (each instance of the app exposes its own;
// Prometheus sums them).
//
// It goes before the access log, so that a scrape every few seconds does
// not fill the log, and around it, so that the count sees the status that
// the error handler chose. A streamed response (server-sent events) is
// timed until its stream starts.
func (s *Server) metricsRoutes(app *fiber.App) {
	reg := s.cfg.Metrics
	if reg == nil {
		reg = metrics.NewRegistry()
		s.cfg.Metrics = reg
	}
	requests := reg.CounterVec(metrics.HTTPRequests, "HTTP requests answered, by status code.", "code")
	durations := reg.HistogramVec(metrics.HTTPDuration,
		"Seconds from a request's arrival to its answer, by method, route pattern and the stage active when it arrived.",
		nil, "method", "route", "stage")
	reg.GaugeFunc(metrics.StageActive, "The stage now active: 0, 1, 2 or 3.", func() float64 {
		n, _ := s.cfg.Switch.Active()
		return float64(n)
	})
	app.Use(func(c *fiber.Ctx) error {
		start := time.Now()
		err := c.Next()
		requests.With(strconv.Itoa(c.Response().StatusCode())).Inc()
		stage := ""
		if n, ok := c.Locals(localStage).(int); ok {
			stage = strconv.Itoa(n)
		}
		durations.With(c.Method(), routeOf(c), stage).Observe(time.Since(start).Seconds())
		return err
	})
	app.Use(s.countSides(reg)) // live.go
	app.Get("/metrics", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderCacheControl, "no-store")
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		return adaptor.HTTPHandler(reg.Handler())(c)
	})
}

// routeOf is the pattern of the route that answered c, e.g. /orders/:id,
// or "other" for a request that no route answered.
func routeOf(c *fiber.Ctx) string {
	if r, ok := c.Context().UserValue(routeKey).(string); ok {
		return r
	}
	return c.Route().Path
}

// unrouted marks c as answered by no route, for routeOf.
func unrouted(c *fiber.Ctx) {
	c.Context().SetUserValue(routeKey, "other")
}

// recordRoute is the first middleware of a stage's API sub-app: it leaves
// the pattern of the route that answered for routeOf.
func recordRoute(c *fiber.Ctx) error {
	err := c.Next()
	if _, ok := c.Context().UserValue(routeKey).(string); !ok {
		c.Context().SetUserValue(routeKey, c.Route().Path)
	}
	return err
}
