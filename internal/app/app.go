// Package app assembles Staircase: it opens the databases, runs their
// migrations, builds every stage and the BFF, and serves until its context
// ends. The staircase command and the end-to-end tests share it.
package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/uptrace/bun"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"

	"github.com/staircase/staircase/bff"
	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/metrics"
	"github.com/staircase/staircase/internal/registry"
	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/internal/tracing"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage0"
	"github.com/staircase/staircase/stages/stage1"
	"github.com/staircase/staircase/stages/stage2"
	"github.com/staircase/staircase/stages/stage3"
)

// Config is what `staircase serve` is told.
type Config struct {
	Addr    string // listen address, e.g. 127.0.0.1:8080
	DataDir string // SQLite files (and the embedded NATS store) live here
	Stage   int    // the stage active at start-up
	WriteDB string // "" for SQLite in DataDir, or a postgres:// URL
	ReadDB  string // stage 3's read database; same rules
	Logger  *slog.Logger
	// NATSURL is an external NATS JetStream server; empty starts one
	// in-process with its store under the data dir. Credentials go in the
	// URL (nats://user:password@host, nats://token@host) or NATSCreds.
	NATSURL string
	// NATSCreds is a NATS credentials file (JWT and NKey) for NATSURL.
	NATSCreds string
	// NATSListen is where the embedded NATS accepts TCP connections, with
	// NATSPassword required of them (user "staircase"); empty, the
	// default, opens no port: the app reaches its bus in-process.
	NATSListen, NATSPassword string
	// BusNamespace prefixes the bus topics, so that several Staircases can
	// share one NATS server (tests); empty in production.
	BusNamespace string
	// Source holds the stages' source (a folder "stages"), for the
	// architecture page; nil hides it.
	Source fs.FS
	// CommandBus is stage 3's command bus: "sync" (default: commands apply
	// in the request) or "async" (queued, answered 202 Accepted).
	CommandBus string
	// ProjectorRetries is how often stage 3's projector retries an event
	// before parking it in the error log; 0 gives stage 3's default.
	ProjectorRetries int
	// AllowedHosts are the host names the app answers to (the request's
	// Host, port ignored); empty gives bff.DefaultHosts(Addr): loopback,
	// and Addr's host when it is a specific address.
	AllowedHosts []string
	// AdminToken locks the admin actions behind a token (bff.Config);
	// empty leaves them to clients on this machine.
	AdminToken string
	// APITokens lock the JSON APIs behind scoped bearer tokens.
	APITokens []bff.APIToken
	// RateLimit caps each client's JSON API requests a second; 0 is none.
	RateLimit int
	// Workshop turns on stage 3's workshop controls (all off to begin
	// with) and their admin API and panel; off, the API answers 404.
	Workshop bool
	// Roles are what this process runs (roles.go); empty runs every role.
	Roles []Role
	// StreamReplicas is how many copies of each stream and bucket a NATS
	// cluster keeps (1 if 0).
	StreamReplicas int
	// Version names the build, for the process registry.
	Version string
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// hosts are the host names the app answers to.
func (c Config) hosts() []string {
	if len(c.AllowedHosts) > 0 {
		return c.AllowedHosts
	}
	return bff.DefaultHosts(c.Addr)
}

// Exposure says what a server on Addr leaves open beyond this machine,
// for serve to warn about at start.
func (c Config) Exposure() []string {
	var out []string
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return nil
	}
	ip := net.ParseIP(host)
	loopback := host == "localhost" || ip != nil && ip.IsLoopback()
	if !loopback && c.AdminToken == "" {
		out = append(out, "listening beyond this machine with no --admin-token: admin actions (stage switch, rebuild, error log) "+
			"are refused to other machines, and behind a proxy on this machine every client would count as local; set --admin-token")
	}
	if (host == "" || ip != nil && ip.IsUnspecified()) && len(c.AllowedHosts) == 0 {
		out = append(out, "listening on every interface but answering only for localhost, 127.0.0.1 and [::1]: "+
			"set --allowed-hosts to the names and addresses clients use")
	}
	return out
}

// Validate checks the config.
func (c Config) Validate() error {
	var errs []error
	if c.Stage < 0 || c.Stage > 3 {
		errs = append(errs, fmt.Errorf("stage must be 0, 1, 2 or 3, not %d", c.Stage))
	}
	if c.NATSListen != "" && c.NATSURL != "" {
		errs = append(errs, errors.New("--nats-listen opens the embedded NATS to other processes; with --nats-url there is no embedded NATS"))
	}
	if c.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("rate limit must be 0 (none) or more, not %d", c.RateLimit))
	}
	if c.CommandBus != "" && c.CommandBus != stage3.CommandBusSync && c.CommandBus != stage3.CommandBusAsync {
		errs = append(errs, fmt.Errorf("command bus must be %s or %s, not %q", stage3.CommandBusSync, stage3.CommandBusAsync, c.CommandBus))
	}
	errs = append(errs, c.validateRoles())
	return errors.Join(errs...)
}

// ReadPath is the SQLite file of stage 3's read database when ReadDB is "".
func (c Config) ReadPath() string { return filepath.Join(c.DataDir, "read.db") }

// WritePath is the SQLite file of the write database when WriteDB is "".
func (c Config) WritePath() string { return filepath.Join(c.DataDir, "write.db") }

// App is a running Staircase.
type App struct {
	cfg    Config
	ReadDB *bun.DB
	NATS   *nats.Conn
	Stage3 *stage3.Stage
	bus    *messaging.Embedded
	unlock func() // releases the data dir

	// Preparing the start-up stage: stopEntering ends it, ready is closed
	// when it is over, with its outcome in readyErr.
	stopEntering context.CancelFunc
	ready        chan struct{}
	readyErr     error
	WriteDB      *bun.DB
	Switch       *bff.Switch
	Server       *bff.Server
	// Metrics is this process's registry, served at /metrics.
	Metrics *metrics.Registry
	// processes is the process registry, worker the server of a process
	// without the web role (process.go).
	processes *registry.Registry
	worker    *fiber.App
	// Tracing traces requests and keeps the recent traces (tracing.go).
	Tracing *tracing.Tracing
}

// OpenWrite opens and migrates the write database.
func OpenWrite(ctx context.Context, cfg Config) (*bun.DB, error) {
	db, err := sqlstore.Open(ctx, cfg.WriteDB, cfg.WritePath())
	if err != nil {
		return nil, fmt.Errorf("write database: %w", err)
	}
	if err := sqlstore.Migrate(ctx, db, migrations.Write); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// OpenRead opens and migrates stage 3's read database.
func OpenRead(ctx context.Context, cfg Config) (*bun.DB, error) {
	db, err := sqlstore.Open(ctx, cfg.ReadDB, cfg.ReadPath())
	if err != nil {
		return nil, fmt.Errorf("read database: %w", err)
	}
	if err := sqlstore.Migrate(ctx, db, migrations.Read); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// New opens the databases and the bus, builds the stages and the BFF, and
// starts stage 3's relay and projector (they run whichever stage is
// active, so that stage 3 is ready to enter).
func New(ctx context.Context, cfg Config) (_ *App, err error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, Metrics: metrics.NewRegistry()}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if cfg.WriteDB == "" || cfg.ReadDB == "" || cfg.NATSURL == "" {
		if a.unlock, err = sqlstore.LockDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	if a.WriteDB, err = openWriteFor(ctx, cfg); err != nil {
		return nil, err
	}
	if a.ReadDB, err = OpenRead(ctx, cfg); err != nil {
		return nil, err
	}
	if err = a.startTracing(ctx); err != nil {
		return nil, err
	}
	if cfg.NATSURL == "" {
		bus := messaging.EmbeddedConfig{Dir: filepath.Join(cfg.DataDir, "nats"), Listen: cfg.NATSListen}
		if cfg.NATSListen != "" {
			bus.User, bus.Password = "staircase", cfg.NATSPassword
		}
		if a.bus, err = messaging.StartEmbedded(ctx, bus, cfg.Logger.With("component", "nats")); err != nil {
			return nil, fmt.Errorf("embedded NATS: %w", err)
		}
		a.NATS, err = a.bus.Connect()
	} else {
		var opts []nats.Option
		if cfg.NATSCreds != "" {
			opts = append(opts, nats.UserCredentials(cfg.NATSCreds))
		}
		a.NATS, err = messaging.Connect(cfg.NATSURL, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	if a.Stage3, err = stage3.New(stage3.Config{
		Write: a.WriteDB, Read: a.ReadDB, NATS: a.NATS, Namespace: cfg.BusNamespace, Logger: cfg.Logger,
		CommandBus: cfg.CommandBus,
		Retries:    cfg.ProjectorRetries,
		Metrics:    a.Metrics,
		Workshop:   cfg.Workshop,
		Workers:    cfg.workers(), StreamReplicas: cfg.StreamReplicas,
		Tracer: a.Tracing.Tracer(),
	}); err != nil {
		return nil, err
	}
	a.Stage3.MeasureRouters()
	a.Stage3.MeasureLag()
	if err = a.Stage3.Start(ctx); err != nil {
		return nil, fmt.Errorf("start stage 3: %w", err)
	}
	stages := map[int]bff.Stage{
		0: tracing.Stage(a.Tracing, 0, stage0.New(a.WriteDB)),
		1: tracing.Stage(a.Tracing, 1, stage1.New(a.WriteDB)),
		2: tracing.Stage(a.Tracing, 2, stage2.New(a.WriteDB)),
		3: a.Stage3,
	}
	if cfg.split() { // stage 3 only, its roles apart (roles.go)
		stages = map[int]bff.Stage{3: splitStage{Stage: a.Stage3, cfg: cfg, nc: a.NATS}}
	}
	if a.processes, err = openRegistry(ctx, cfg, a.NATS); err != nil {
		return nil, err
	}
	if a.Switch, err = bff.NewSwitch(stages, cfg.Stage); err != nil {
		return nil, err
	}
	var workshop bff.Workshop
	var reset bff.Resetter
	if cfg.Workshop {
		workshop, reset = stages[3].(bff.Workshop), a
	}
	a.Server, err = bff.New(bff.Config{
		Switch: a.Switch,
		Logger: cfg.Logger,
		// Stages 0–2 serve from the write database: they are ready while
		// its orders can be read. Stage 3 reports its own parts.
		Health: func(ctx context.Context) error {
			var one []int
			return a.WriteDB.NewSelect().TableExpr("orders").ColumnExpr("1").Limit(1).Scan(ctx, &one)
		},
		Descriptions: Descriptions(),
		Source:       cfg.Source,
		Metrics:      a.Metrics,
		Hosts:        cfg.hosts(),
		AdminToken:   cfg.AdminToken,
		APITokens:    cfg.APITokens,
		RateLimit:    cfg.RateLimit,
		Workshop:     workshop,
		// The controls are stage 3's.
		WorkshopStage: 3,
		Reset:         reset,
		Processes:     a.processes,
		Tracing:       a.Tracing,
	})
	if err != nil {
		return nil, err
	}
	// The active stage is prepared while the app serves (bff.EnterActive).
	entering, stop := context.WithCancel(context.WithoutCancel(ctx))
	entered := a.Server.EnterActive(entering)
	a.stopEntering, a.ready = stop, make(chan struct{})
	go func() {
		a.readyErr = <-entered
		close(a.ready)
	}()
	return a, nil
}

// Ready waits until the stage active at start-up is prepared (stage 3's
// read side brought up to date) and returns what preparing it returned;
// the app serves meanwhile.
func (a *App) Ready(ctx context.Context) error {
	select {
	case <-a.ready:
		return a.readyErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// The ports stage 3 offers the BFF beyond the Stage itself: checked here,
// where both are known, so that a change to either fails to compile.
var (
	_ bff.Enterer        = (*stage3.Stage)(nil)
	_ bff.Rebuilder      = (*stage3.Stage)(nil)
	_ bff.Readier        = (*stage3.Stage)(nil)
	_ bff.ChangeNotifier = (*stage3.Stage)(nil)
	_ bff.Reporter       = (*stage3.Stage)(nil)
	_ bff.ErrorLog       = (*stage3.Stage)(nil)
	_ bff.Workshop       = (*stage3.Stage)(nil)
	_ bff.EventLog       = (*stage3.Stage)(nil)
	_ bff.LagHistory     = (*stage3.Stage)(nil)
	_ bff.Resetter       = (*App)(nil)
)

// Descriptions describe the four stages, for the BFF.
func Descriptions() []stageview.Description {
	return []stageview.Description{stage0.Describe(), stage1.Describe(), stage2.Describe(), stage3.Describe()}
}

// Serve serves on ln until ctx ends, then shuts down gracefully: requests
// in flight get up to 10 s to finish.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	listen := a.listener()
	go func() { errc <- listen(ln) }()
	go a.announce(ctx, ln.Addr().String())
	a.cfg.Logger.Info("staircase serving", "addr", ln.Addr().String(), "stage", a.cfg.Stage, "roles", a.cfg.roleNames())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.cfg.Logger.Info("shutting down")
	if err := a.shutdown(10 * time.Second); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// Run listens on the configured address and serves until ctx ends.
func (a *App) Run(ctx context.Context) error {
	for _, w := range a.cfg.Exposure() {
		a.cfg.Logger.Warn(w, "addr", a.cfg.Addr)
	}
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return err
	}
	return a.Serve(ctx, ln)
}

// Close stops stage 3's workers and releases the bus and the databases.
func (a *App) Close() error {
	var errs []error
	if a.stopEntering != nil { // preparing the stage uses what closes below
		a.stopEntering()
		<-a.ready
	}
	if a.Stage3 != nil {
		errs = append(errs, a.Stage3.Close())
	}
	if a.NATS != nil {
		a.NATS.Close()
	}
	if a.bus != nil {
		a.bus.Shutdown()
	}
	errs = append(errs, a.stopTracing())
	for _, db := range []*bun.DB{a.ReadDB, a.WriteDB} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	if a.unlock != nil {
		a.unlock()
	}
	return errors.Join(errs...)
}
