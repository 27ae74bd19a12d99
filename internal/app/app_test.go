package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/sqlstore"
)

// TestTwoInstancesOnOneDataDir: the second is refused before it opens
// anything, so the first's SQLite files and NATS store stay whole; once the
// first closes, the dir is free.
func TestTwoInstancesOnOneDataDir(t *testing.T) {
	ctx := context.Background()
	cfg := app.Config{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	first, err := app.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.New(ctx, cfg); !errors.Is(err, sqlstore.ErrDataDirInUse) {
		t.Fatalf("second instance on the same data dir: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := app.New(ctx, cfg)
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	again.Close()
}
