package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/metrics"
	"github.com/staircase/staircase/internal/registry"
	"github.com/staircase/staircase/internal/stageview"
)

// openRegistry opens the process registry on the bus, where every process
// of this Staircase announces itself.
func openRegistry(ctx context.Context, cfg Config, nc *nats.Conn) (*registry.Registry, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return registry.Open(ctx, nc, registry.Config{
		Bucket:   registry.Bucket(cfg.BusNamespace),
		Replicas: cfg.StreamReplicas,
	})
}

// announce keeps this process's entry in the registry until ctx ends: its
// roles, stage, address, version and throughput.
func (a *App) announce(ctx context.Context, addr string) {
	host, _ := os.Hostname()
	started := time.Now().UTC()
	rates := newRates(a.Metrics)
	a.processes.Announce(ctx, registry.DefaultHeartbeat, func() stageview.Process {
		stage, _ := a.Switch.Active()
		return stageview.Process{
			ID:    fmt.Sprintf("%s-%d-%s", host, os.Getpid(), addr),
			Roles: a.cfg.roleNames(), Stage: stage, Addr: addr, Version: a.version(),
			Started: started, Rates: rates.now(ctx),
		}
	}, a.cfg.Logger.With("component", "registry"))
}

// version names the build: the configured version, else the VCS revision
// the binary was built from.
func (a *App) version() string {
	if a.cfg.Version != "" {
		return a.cfg.Version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return info.Main.Version
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "+changes"
	}
	return rev
}

// rates turns the process's counters into rates per second between two
// heartbeats.
type rates struct {
	m    *metrics.Registry
	mu   sync.Mutex
	last map[string]float64
	at   time.Time
}

// rateOf names the counters a process's throughput is read from.
var rateOf = map[string]string{
	"requests":  metrics.HTTPRequests,
	"commands":  metrics.BusCommands,
	"published": metrics.RelayPublished,
	"projected": metrics.ProjectorApplied,
}

func newRates(m *metrics.Registry) *rates { return &rates{m: m} }

func (r *rates) now(ctx context.Context) map[string]float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	totals := map[string]float64{}
	for name, metric := range rateOf {
		for _, s := range r.m.Samples(ctx, metric) {
			// The command bus counts accepted, applied and rejected:
			// the commands handled are the last two.
			if metric == metrics.BusCommands && len(s.Labels) > 0 && s.Labels[0] == "accepted" {
				continue
			}
			totals[name] += s.Value
		}
	}
	out := map[string]float64{}
	if r.last != nil {
		secs := time.Since(r.at).Seconds()
		for name, v := range totals {
			if secs > 0 {
				out[name] = max(v-r.last[name], 0) / secs
			}
		}
	}
	r.last, r.at = totals, time.Now()
	return out
}

// listener returns what serves on a listener: the whole app in a process
// with the web role; in the others only what operates the process —
// /healthz, /readyz, /metrics — and a problem pointing at the web
// processes for the rest.
func (a *App) listener() func(net.Listener) error {
	if a.cfg.has(RoleWeb) {
		return a.Server.App().Listener
	}
	app := a.Server.App().Handler()
	roles := strings.Join(a.cfg.roleNames(), ", ")
	a.worker = fiber.New(fiber.Config{DisableStartupMessage: true})
	a.worker.Use(func(c *fiber.Ctx) error {
		switch c.Path() {
		case "/healthz", "/readyz", "/metrics":
			app(c.Context())
			return nil
		}
		return c.Status(http.StatusNotFound).JSON(httpapi.Problem{
			Type: "about:blank", Title: http.StatusText(http.StatusNotFound), Status: http.StatusNotFound,
			Detail: "This process runs " + roles + ", not web: the pages and the APIs are served by the web processes (see the Architecture page there).",
		}, httpapi.ProblemContentType)
	})
	return a.worker.Listener
}

// shutdown stops serving, giving requests in flight up to timeout.
func (a *App) shutdown(timeout time.Duration) error {
	if a.worker != nil {
		return a.worker.ShutdownWithTimeout(timeout)
	}
	return a.Server.Shutdown(timeout)
}
