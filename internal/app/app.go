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

	"github.com/staircase/staircase/bff"
	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage0"
	"github.com/staircase/staircase/stages/stage1"
	"github.com/staircase/staircase/stages/stage2"
)

// Config is what `staircase serve` is told.
type Config struct {
	Addr    string // listen address, e.g. 127.0.0.1:8080
	DataDir string // SQLite files (and the embedded NATS store) live here
	Stage   int    // the stage active at start-up
	WriteDB string // "" for SQLite in DataDir, or a postgres:// URL
	ReadDB  string // stage 3's read database; same rules
	Logger  *slog.Logger
	// Source holds the stages' source (a folder "stages"), for the
	// architecture page; nil hides it.
	Source fs.FS
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

// Validate checks the config.
func (c Config) Validate() error {
	var errs []error
	if c.Stage < 0 || c.Stage > 3 {
		errs = append(errs, fmt.Errorf("stage must be 0, 1, 2 or 3, not %d", c.Stage))
	}
	return errors.Join(errs...)
}

// WritePath is the SQLite file of the write database when WriteDB is "".
func (c Config) WritePath() string { return filepath.Join(c.DataDir, "write.db") }

// App is a running Staircase.
type App struct {
	cfg     Config
	WriteDB *bun.DB
	Switch  *bff.Switch
	Server  *bff.Server
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

// New opens the databases and builds the stages and the BFF.
func New(ctx context.Context, cfg Config) (*App, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	db, err := OpenWrite(ctx, cfg)
	if err != nil {
		return nil, err
	}
	stages := map[int]bff.Stage{
		0: stage0.New(db),
		1: stage1.New(db),
		2: stage2.New(db),
	}
	if _, ok := stages[cfg.Stage]; !ok {
		db.Close()
		return nil, fmt.Errorf("stage %d is not built yet", cfg.Stage)
	}
	sw, err := bff.NewSwitch(stages, cfg.Stage)
	if err != nil {
		db.Close()
		return nil, err
	}
	srv, err := bff.New(bff.Config{
		Switch: sw,
		Logger: cfg.Logger,
		Health: func(ctx context.Context) error { return db.PingContext(ctx) },
		Source: cfg.Source,
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &App{cfg: cfg, WriteDB: db, Switch: sw, Server: srv}, nil
}

// Serve serves on ln until ctx ends, then shuts down gracefully: requests
// in flight get up to 10 s to finish.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- a.Server.App().Listener(ln) }()
	a.cfg.Logger.Info("staircase serving", "addr", ln.Addr().String(), "stage", a.cfg.Stage)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.cfg.Logger.Info("shutting down")
	if err := a.Server.App().ShutdownWithTimeout(10 * time.Second); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// Run listens on the configured address and serves until ctx ends.
func (a *App) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return err
	}
	return a.Serve(ctx, ln)
}

// Close releases the databases.
func (a *App) Close() error {
	return a.WriteDB.Close()
}
