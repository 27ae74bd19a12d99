package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Embedded is an in-process NATS server with JetStream on disk: the message bus of the
// embedded engine, so that the app runs with no broker to install.
type Embedded struct {
	srv *server.Server
	url string // "" when it listens on no port
}

// embeddedReadyTimeout bounds how long StartEmbedded waits for the server to accept
// connections when ctx has no earlier deadline. JetStream recovers its streams from disk
// before it is ready, which takes a while for big stores.
const embeddedReadyTimeout = 30 * time.Second

// EmbeddedConfig is how the embedded server is reached.
type EmbeddedConfig struct {
	// Dir holds the JetStream store (created if missing). Required.
	Dir string
	// Listen is a host:port to accept TCP connections on ("127.0.0.1:0" for a free
	// port). Empty, the default, opens no port at all: the app connects in-process
	// (Connect), and no other process on the machine can publish to its bus.
	Listen string
	// User and Password are required of every TCP connection. They must be set when
	// Listen is: an open port with no credentials would let any local process forge
	// events.
	User, Password string
}

// Validate checks the config.
func (c EmbeddedConfig) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("the embedded NATS needs a store dir"))
	}
	if c.Listen != "" && (c.User == "" || c.Password == "") {
		errs = append(errs, errors.New("the embedded NATS listens on "+c.Listen+" only with a user and password (STAIRCASE_NATS_PASSWORD)"))
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("the embedded NATS listen address: %w", err))
		}
	}
	return errors.Join(errs...)
}

// StartEmbedded starts an in-process nats-server with JetStream, storing its streams under
// cfg.Dir, and returns once the server accepts connections. By default it listens on no
// port; connect with Connect. ctx bounds the start only; stop the server with Shutdown.
//
// SyncAlways is on: every message is fsynced before JetStream acknowledges it. JetStream's
// default syncs every two minutes, so a crash (of the process or the machine) can lose
// messages the publisher saw acknowledged — an event of the outbox that the forwarder has
// already marked as sent would be gone.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig, logger *slog.Logger) (*Embedded, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("nats store dir %q: %w", cfg.Dir, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("nats store dir: %w", err)
	}

	opts := &server.Options{
		ServerName: "staircase-embedded",
		DontListen: cfg.Listen == "",
		NoSigs:     true, // the app owns signal handling
		JetStream:  true,
		StoreDir:   abs,
		SyncAlways: true,
		// The HTTP monitoring port stays off; the app reports bus backlog itself.
	}
	if cfg.Listen != "" {
		host, port, _ := net.SplitHostPort(cfg.Listen) // Validate checked it
		opts.Host = host
		if opts.Port, err = strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("the embedded NATS listen port %q: %w", port, err)
		}
		if opts.Port == 0 {
			opts.Port = server.RANDOM_PORT
		}
		opts.Username, opts.Password = cfg.User, cfg.Password
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

	e := &Embedded{srv: srv}
	if cfg.Listen != "" {
		u := &url.URL{Scheme: "nats", User: url.UserPassword(cfg.User, cfg.Password), Host: srv.Addr().String()}
		e.url = u.String()
		logger.Info("embedded NATS JetStream started", "listen", srv.Addr().String(), "store", abs)
	} else {
		logger.Info("embedded NATS JetStream started, in-process only", "store", abs)
	}
	return e, nil
}

// URL is the client URL of the embedded server with its credentials
// (nats://user:password@host:port), or "" when it listens on no port.
func (e *Embedded) URL() string { return e.url }

// Listening reports whether the server accepts TCP connections.
func (e *Embedded) Listening() bool { return e.srv.Addr() != nil }

// Connect opens a connection to the server in-process (no socket), with the
// options of the package's Connect.
func (e *Embedded) Connect(opts ...nats.Option) (*nats.Conn, error) {
	return Connect("", append([]nats.Option{nats.InProcessServer(e.srv)}, opts...)...)
}

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
