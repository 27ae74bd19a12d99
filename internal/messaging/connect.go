package messaging

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// Connect opens a NATS connection that outlives server blips: it retries the first
// connection and every reconnection forever (with a jittered wait); subscriptions resume
// by themselves once the connection is back.
//
// Publishes are not buffered while disconnected (ReconnectBufSize -1): a publish then
// fails at once rather than timing out and being sent later anyway, so an error means
// "not sent" in that case and the caller (the outbox forwarder) retries. A publish that
// times out waiting for JetStream's ack remains ambiguous; the retry carries the same
// message UUID, so JetStream deduplicates it. opts are applied after the defaults.
//
// Because of RetryOnFailedConnect, Connect does not fail when the server is not up yet;
// the connection becomes usable when it is.
func Connect(url string, opts ...nats.Option) (*nats.Conn, error) {
	defaults := []nats.Option{
		nats.Name("staircase"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.ReconnectBufSize(-1),
		nats.Timeout(5 * time.Second),
		nats.PingInterval(20 * time.Second),
		nats.MaxPingsOutstanding(3),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err != nil {
				slog.Warn("NATS disconnected, reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			slog.Info("NATS reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			slog.Error("NATS async error", "subject", subject, "err", err)
		}),
	}
	nc, err := nats.Connect(url, append(defaults, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	return nc, nil
}
