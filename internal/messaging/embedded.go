package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Embedded is an in-process NATS server with JetStream on disk: the message bus of the
// embedded engine, so that the app runs with no broker to install.
type Embedded struct {
	srv *server.Server
	url string
}

// embeddedReadyTimeout bounds how long StartEmbedded waits for the server to accept
// connections when ctx has no earlier deadline. JetStream recovers its streams from disk
// before it is ready, which takes a while for big stores.
const embeddedReadyTimeout = 30 * time.Second

// StartEmbedded starts an in-process nats-server with JetStream, storing its streams under
// dir (created if missing), listening on 127.0.0.1 on a free port, and returns once the
// server accepts connections. ctx bounds the start only; stop the server with Shutdown.
//
// SyncAlways is on: every message is fsynced before JetStream acknowledges it. JetStream's
// default syncs every two minutes, so a crash (of the process or the machine) can lose
// messages the publisher saw acknowledged — an event of the outbox that the forwarder has
// already marked as sent would be gone. A real port (not DontListen) lets the CLI and other
// processes connect, and keeps one code path (URL) for embedded and external servers.
func StartEmbedded(ctx context.Context, dir string, logger *slog.Logger) (*Embedded, error) {
	return startEmbeddedOn(ctx, dir, server.RANDOM_PORT, logger)
}

func startEmbeddedOn(ctx context.Context, dir string, port int, logger *slog.Logger) (*Embedded, error) {
	if logger == nil {
		logger = slog.Default()
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("nats store dir %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("nats store dir: %w", err)
	}

	opts := &server.Options{
		ServerName: "staircase-embedded",
		Host:       "127.0.0.1",
		Port:       port,
		NoSigs:     true, // the app owns signal handling
		JetStream:  true,
		StoreDir:   abs,
		SyncAlways: true,
		// The HTTP monitoring port stays off; the app reports bus backlog itself.
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("new nats server: %w", err)
	}
	srv.SetLoggerV2(&slogNATSLogger{l: logger.With("component", "nats-server")}, false, false, false)

	go srv.Start()

	wait := embeddedReadyTimeout
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	}
	ready := make(chan bool, 1)
	go func() { ready <- srv.ReadyForConnections(wait) }()
	select {
	case ok := <-ready:
		if !ok {
			srv.Shutdown()
			srv.WaitForShutdown()
			return nil, fmt.Errorf("embedded nats server (store %s) not ready after %s", abs, wait)
		}
	case <-ctx.Done():
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("embedded nats server: %w", ctx.Err())
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, errors.New("embedded nats server started without JetStream")
	}

	e := &Embedded{srv: srv, url: srv.ClientURL()}
	logger.Info("embedded NATS JetStream started", "url", e.url, "store", abs)
	return e, nil
}

// URL is the client URL of the embedded server (nats://127.0.0.1:PORT), for Connect.
func (e *Embedded) URL() string { return e.url }

// Shutdown stops the server and waits until it has stopped and closed its store, so that
// the same dir can be opened again.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// slogNATSLogger adapts slog to the nats-server logger interface. Notices (the start-up
// banner, …) go to debug; warnings and errors stay visible.
type slogNATSLogger struct{ l *slog.Logger }

func (s *slogNATSLogger) Noticef(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s *slogNATSLogger) Warnf(format string, v ...any)   { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s *slogNATSLogger) Fatalf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s *slogNATSLogger) Errorf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s *slogNATSLogger) Debugf(format string, v ...any)  { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s *slogNATSLogger) Tracef(format string, v ...any)  { s.l.Debug(fmt.Sprintf(format, v...)) }
