package bff

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/web"
)

// Live updates: a page that shows an order older than what the UI wrote
// (freshness.go) connects to one of these server-sent event streams, which
// sends each watched order's fresh fragment as the event "order-<id>" once
// the active stage's read side has the version written. htmx's SSE
// extension swaps it in (sse-swap, outerHTML). When every watched order has
// caught up the stream sends "done", which the page's sse-close turns into
// closing the connection; a stream that reaches its lifetime just ends, and
// the browser reconnects.
//
// A stream looks at the read side when it starts, and then when the stage
// says a watched order changed (ChangeNotifier), so that waiting streams
// cost nothing; it looks again now and then in case it missed something
// (a change applied by another process). A stage that says nothing is
// polled, once a second.

// liveTiming paces the streams.
type liveTiming struct {
	// poll is how often the read side of a stage that does not say what
	// changed is asked.
	poll time.Duration
	// resync is how often a stream asks a stage that says what changed,
	// in case it missed a change.
	resync time.Duration
	// lifetime bounds a stream: it must end before the server's write
	// timeout cuts it, and a bounded stream keeps a shutdown short.
	lifetime time.Duration
	// heartbeat is how often an idle stream writes a comment, to notice a
	// browser that went away.
	heartbeat time.Duration
	// retry is the reconnection delay the stream asks the browser for.
	retry time.Duration
}

// defaultLiveTiming fits the streams under the server's write timeout:
// fasthttp sets the write deadline once, before the body streams.
func defaultLiveTiming(writeTimeout time.Duration) liveTiming {
	life := 45 * time.Second
	if limit := writeTimeout * 3 / 4; limit < life {
		life = limit
	}
	return liveTiming{poll: time.Second, resync: 10 * time.Second, lifetime: life, heartbeat: 10 * time.Second, retry: time.Second}
}

func (s *Server) liveRoutes(r fiber.Router) {
	r.Get("/live/orders", s.liveOrders)
	r.Get("/live/orders/:id", s.liveOrder)
}

// liveOrders streams the fresh rows of the orders list:
// ?w=<id>.<version> (repeated) and ?placed=<id>, the row to highlight.
func (s *Server) liveOrders(c *fiber.Ctx) error {
	_, st := s.stage(c)
	var watches []watch
	for _, raw := range c.Context().QueryArgs().PeekMulti("w") {
		w, ok := parseWatch(string(raw))
		if !ok {
			return fiber.NewError(http.StatusBadRequest, "w must be <order id>.<version>")
		}
		watches = append(watches, w)
	}
	if len(watches) == 0 || len(watches) > maxWatched {
		return fiber.NewError(http.StatusBadRequest, "watch between 1 and 100 orders")
	}
	placed, _ := order.ParseID(c.Query("placed"))
	return s.stream(c, st, watches, func(ctx context.Context, id order.ID) (string, error) {
		d, err := st.OrderDetail(ctx, id)
		if order.ErrorCode(err) == order.ENOTFOUND {
			// Deleted: the empty fragment removes the row.
			return "", nil
		}
		if err != nil {
			return "", err
		}
		return renderString(ctx, web.OrderRowFragment(summaryRow(orderSummary(d.Order, d.TotalCents)), id == placed))
	})
}

// liveOrder streams the fresh view of one order's page once the read side
// has ?v=<version>.
func (s *Server) liveOrder(c *fiber.Ctx) error {
	n, st := s.stage(c)
	id, err := httpapi.ParseIDParam(c.Params("id"))
	if err != nil {
		return err
	}
	v := urlVersion(c.Query("v"))
	if v <= 0 {
		return fiber.NewError(http.StatusBadRequest, "v must be the version to wait for")
	}
	ch := web.Chrome{CSRFToken: tokenOf(c), Stage: s.badge(n)}
	return s.stream(c, st, []watch{{id, v}}, func(ctx context.Context, id order.ID) (string, error) {
		d, err := st.OrderDetail(ctx, id)
		if order.ErrorCode(err) == order.ENOTFOUND {
			return renderString(ctx, web.OrderGone())
		}
		if err != nil {
			return "", err
		}
		return renderString(ctx, web.OrderDetailView(ch, detailView(d, n)))
	})
}

func tokenOf(c *fiber.Ctx) string {
	t, _ := c.Locals(localCSRF).(string)
	return t
}

// stream answers with a server-sent events stream that sends each watched
// order's fragment (from render) once the read side of st has its version.
// Everything the stream needs is taken from c before it starts: the
// fiber.Ctx is recycled when the handler returns, before the body streams.
func (s *Server) stream(c *fiber.Ctx, st Queries, watches []watch, render func(context.Context, order.ID) (string, error)) error {
	client := c.IP()
	if !s.streams.acquire(client) {
		return fiber.NewError(http.StatusTooManyRequests, "this address has "+strconv.Itoa(maxStreamsPerClient)+" live streams open already; close one first")
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no") // a proxy must not buffer the events
	// Closed when the server shuts down: open streams end at once instead
	// of holding the graceful shutdown for their lifetime.
	shutdown := c.Context().Done()
	timing, log, forget, streams := s.live, s.log, s.writes.forget, s.streams
	// Subscribed before the first look, so that no change falls between.
	var wake <-chan struct{}
	var sub *changeSub
	every := timing.poll
	if _, ok := st.(ChangeNotifier); ok {
		ids := make([]order.ID, len(watches))
		for i, wt := range watches {
			ids[i] = wt.id
		}
		sub = s.changes.subscribe(ids)
		wake, every = sub.wake, timing.resync
	}
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer streams.release(client)
		if sub != nil {
			defer sub.close()
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		end := time.NewTimer(timing.lifetime)
		defer end.Stop()
		poll := time.NewTicker(every)
		defer poll.Stop()
		beat := time.NewTicker(timing.heartbeat)
		defer beat.Stop()
		if writeEvent(w, "", "", timing.retry) != nil {
			return
		}
		// look sends the watched orders in only (nil: all) whose read side
		// has caught up, and keeps the others; it reports false when the
		// browser went away.
		look := func(only map[order.ID]bool, checkRejection bool) bool {
			left := watches[:0]
			for _, wt := range watches {
				if only != nil && !only[wt.id] {
					left = append(left, wt)
					continue
				}
				got, err := readVersion(ctx, st, wt.id)
				if err != nil {
					log.WarnContext(ctx, "live: read an order's version", "order", wt.id, "err", err)
					left = append(left, wt)
					continue
				}
				if got < wt.version && !(checkRejection && rejected(ctx, st, wt.id)) {
					left = append(left, wt)
					continue
				}
				// Caught up, or the write was rejected after it was
				// accepted (async command bus) and never will be: either
				// way the page gets the order as the read side has it.
				if got < wt.version {
					forget(wt.id)
				}
				html, err := render(ctx, wt.id)
				if err != nil {
					log.WarnContext(ctx, "live: render an order", "order", wt.id, "err", err)
					left = append(left, wt)
					continue
				}
				if writeEvent(w, liveEvent(wt.id), html, 0) != nil {
					return false
				}
			}
			watches = left
			return true
		}
		ok := look(nil, false)
		for polls := 1; ok; polls++ {
			if len(watches) == 0 {
				_ = writeEvent(w, "done", "caught up", 0)
				return
			}
			select {
			case <-shutdown:
				return
			case <-end.C:
				return
			case <-beat.C:
				if _, err := w.WriteString(": still waiting\n\n"); err != nil || w.Flush() != nil {
					return
				}
			case <-wake:
				// A change the stage told of may be a rejection, too.
				ok = look(sub.take(), true)
			case <-poll.C:
				ok = look(nil, sub != nil || polls%rejectionEvery == 0)
			}
		}
	})
	return nil
}

// rejectionEvery is how many polls pass between looks for a rejected
// write: reading an order's detail costs more than its version.
const rejectionEvery = 2

// rejected tells whether the order's newest write was a queued command
// rejected after it was accepted (order.Detail.Rejection).
func rejected(ctx context.Context, st Queries, id order.ID) bool {
	d, err := st.OrderDetail(ctx, id)
	return err == nil && d.Rejection != ""
}

// writeEvent writes one event (or, with retry > 0, the reconnection delay)
// and flushes it. Every line of data gets its own "data:" field, which the
// browser joins with newlines again.
func writeEvent(w *bufio.Writer, name, data string, retry time.Duration) error {
	var b strings.Builder
	if retry > 0 {
		b.WriteString("retry: ")
		b.WriteString(strconv.FormatInt(retry.Milliseconds(), 10))
		b.WriteString("\n")
	}
	if name != "" {
		b.WriteString("event: " + name + "\n")
		data = strings.ReplaceAll(strings.ReplaceAll(data, "\r\n", "\n"), "\r", "\n")
		for _, line := range strings.Split(data, "\n") {
			b.WriteString("data: " + line + "\n")
		}
	}
	b.WriteString("\n")
	if _, err := w.WriteString(b.String()); err != nil {
		return err
	}
	return w.Flush()
}

func renderString(ctx context.Context, comp templ.Component) (string, error) {
	var buf bytes.Buffer
	if err := comp.Render(ctx, &buf); err != nil {
		return "", err
	}
	return buf.String(), nil
}
