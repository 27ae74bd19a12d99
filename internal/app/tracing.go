package app

import (
	"context"
	"time"

	"github.com/staircase/staircase/internal/tracing"
)

// startTracing starts the process's tracing: every request's trace is
// kept in memory for the traces pages, and exported over OTLP/HTTP when
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is
// set. The databases' statements join the trace of the request that runs
// them.
func (a *App) startTracing(ctx context.Context) error {
	t, err := tracing.New(ctx, tracing.Config{})
	if err != nil {
		return err
	}
	a.Tracing = t
	a.WriteDB.AddQueryHook(tracing.NewQueryHook(t, "write", a.WriteDB, true))
	a.ReadDB.AddQueryHook(tracing.NewQueryHook(t, "read", a.ReadDB, false))
	if t.Exporting() {
		a.cfg.Logger.Info("exporting traces over OTLP/HTTP")
	}
	return nil
}

// stopTracing flushes the spans still to be exported.
func (a *App) stopTracing() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return a.Tracing.Shutdown(ctx)
}
