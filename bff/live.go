package bff

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/metrics"
	"github.com/staircase/staircase/web"
)

// The live flows of the architecture page's diagram: each arrow and box
// carries some (data-flow), and the live panel lists those that moved
// since its last refresh (data-flows), which app.css animates.
const (
	flowCommand     = "command"      // commands reach the modify API (or stage 0's writes)
	flowQuery       = "query"        // queries reach the retrieve API and the read side
	flowCommandSync = "command-sync" // stage 3: the modify API applies commands itself
	flowCommandBus  = "command-bus"  // stage 3: commands go through the command bus
	flowWrite       = "write"        // stage 3: the write model saves to the write database
	flowRelay       = "relay"        // stage 3: the relay publishes the change log
	flowProject     = "project"      // stage 3: the projector applies events to the read database
)

// The bus topics, as stage 3 names them, after an optional namespace
// prefix.
const (
	eventsTopicSuffix   = messaging.EventsTopic
	commandsTopicSuffix = messaging.CommandsTopic
)

// liveInterval is how often the live panel refreshes; the page says so.
const liveInterval = 2 * time.Second

// countSides counts the requests that are commands or queries, through
// the JSON API or the UI, for the live panel: stages 0 to 2 have no other
// numbers, and stage 3's UI calls its stage in-process.
func (s *Server) countSides(reg *metrics.Registry) fiber.Handler {
	sides := reg.CounterVec(metrics.SideRequests,
		"Requests this process answered that were commands (writes) or queries (reads), by side and by way in: the JSON API or the UI.",
		"side", "via")
	return func(c *fiber.Ctx) error {
		// Taken before: the stage's API may rewrite the path.
		side, via := requestSide(c.Method(), c.Path())
		err := c.Next()
		if side != "" {
			sides.With(side, via).Inc()
		}
		return err
	}
}

// requestSide says whether a request is a command or a query, and whether
// it came through the API or the UI; empty for anything else (assets,
// the architecture page, live streams).
func requestSide(method, path string) (side, via string) {
	read := method == fiber.MethodGet || method == fiber.MethodHead
	under := func(p string) bool { return path == p || strings.HasPrefix(path, p+"/") }
	switch {
	case strings.HasPrefix(path, "/api/commands/"):
		return flowCommand, "api"
	case strings.HasPrefix(path, "/api/queries/"):
		return flowQuery, "api"
	case under("/api/orders"): // stage 0's one API: GET reads, the rest writes
		if read {
			return flowQuery, "api"
		}
		return flowCommand, "api"
	case under("/orders/new"): // the form, not yet a command
		return "", ""
	case under("/orders"):
		if method == fiber.MethodPost {
			return flowCommand, "ui"
		}
		if read {
			return flowQuery, "ui"
		}
	case path == "/dashboard" && read:
		return flowQuery, "ui"
	}
	return "", ""
}

// The counts a live panel carries in its URL, so that the next refresh can
// tell what moved: short keys, to keep the URL short.
const (
	keyCommands   = "c"
	keyQueries    = "q"
	keyAccepted   = "ca"
	keyBusApplied = "cp"
	keyRejected   = "cr"
	keyPublished  = "ep"
	keyApplied    = "ea"
	keyDuplicate  = "ed"
	keyParked     = "xp"
	keyHeld       = "xh"
	keyGapRetries = "xg"
)

var liveKeys = []string{keyCommands, keyQueries, keyAccepted, keyBusApplied, keyRejected, keyPublished, keyApplied, keyDuplicate, keyParked, keyHeld, keyGapRetries}

// liveReading is what the registry holds now.
type liveReading struct {
	counts                               map[string]float64
	commandsAPI, commandsUI              float64
	queriesAPI, queriesUI                float64
	lag, newest                          float64
	hasLag                               bool
	eventsBacklog, commandsBacklog       float64
	hasEventsBacklog, hasCommandsBacklog bool
}

// readLive reads the registry; the bus's backlog only withBus, since
// reading it asks the bus.
func readLive(ctx context.Context, reg *metrics.Registry, withBus bool) liveReading {
	r := liveReading{counts: map[string]float64{}}
	val := func(name string, labels ...string) float64 {
		v, _ := reg.Value(ctx, name, labels...)
		return v
	}
	r.commandsAPI, r.commandsUI = val(metrics.SideRequests, flowCommand, "api"), val(metrics.SideRequests, flowCommand, "ui")
	r.queriesAPI, r.queriesUI = val(metrics.SideRequests, flowQuery, "api"), val(metrics.SideRequests, flowQuery, "ui")
	r.counts[keyCommands] = r.commandsAPI + r.commandsUI
	r.counts[keyQueries] = r.queriesAPI + r.queriesUI
	r.counts[keyAccepted] = val(metrics.BusCommands, "accepted")
	r.counts[keyBusApplied] = val(metrics.BusCommands, "applied")
	r.counts[keyRejected] = val(metrics.BusCommands, "rejected")
	r.counts[keyPublished] = val(metrics.RelayPublished)
	r.counts[keyApplied] = val(metrics.ProjectorApplied)
	r.counts[keyDuplicate] = val(metrics.ProjectorDuplicate)
	r.counts[keyParked] = val(metrics.ProjectorParked)
	r.counts[keyHeld] = val(metrics.ProjectorHeld)
	r.counts[keyGapRetries] = val(metrics.ProjectorGapRetries)
	r.lag = val(metrics.ProjectionLastLag)
	r.newest = val(metrics.ProjectionNewest)
	r.hasLag = r.newest > 0 || r.counts[keyApplied] > 0
	if !withBus {
		return r
	}
	for _, sm := range reg.Samples(ctx, metrics.BusPending) {
		switch topic := sm.Labels[0]; {
		case strings.HasSuffix(topic, eventsTopicSuffix):
			r.eventsBacklog, r.hasEventsBacklog = r.eventsBacklog+sm.Value, true
		case strings.HasSuffix(topic, commandsTopicSuffix):
			r.commandsBacklog, r.hasCommandsBacklog = r.commandsBacklog+sm.Value, true
		}
	}
	return r
}

// parseLiveCounts reads the counts a live panel's URL carries; nil when it
// carries none (the panel's first rendering, or a hand-made URL). A count
// that is not a number is left out rather than refused: it only decides
// what is animated.
func parseLiveCounts(q url.Values) map[string]float64 {
	var out map[string]float64
	for _, k := range liveKeys {
		v, err := strconv.ParseFloat(q.Get(k), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		if out == nil {
			out = map[string]float64{}
		}
		out[k] = v
	}
	return out
}

// livePanel builds the live panel for the diagram of stage n while stage
// active runs; prev are the counts of the panel's last rendering (nil for
// the first), against which it tells what moved.
func (s *Server) livePanel(ctx context.Context, n, active int, prev map[string]float64) *web.LivePanel {
	r := readLive(ctx, s.cfg.Metrics, n == 3)
	p := &web.LivePanel{Stage: n, Preview: n != active}

	q := url.Values{"stage": {strconv.Itoa(n)}}
	for _, k := range liveKeys {
		q.Set(k, strconv.FormatFloat(r.counts[k], 'f', -1, 64))
	}
	p.URL = "/architecture/live?" + q.Encode()

	delta := func(k string) float64 {
		was, ok := prev[k]
		if !ok {
			return 0
		}
		// A count lower than before (another instance answered, or this
		// one restarted) is not movement.
		return max(0, r.counts[k]-was)
	}
	stat := func(key, label, countKey string) web.LiveStat {
		st := web.LiveStat{Key: key, Label: label, Value: formatCount(r.counts[countKey])}
		if d := delta(countKey); d > 0 {
			st.Delta = "+" + formatCount(d)
		}
		return st
	}

	cmds, qrys := "Commands", "Queries"
	if n == 0 {
		cmds, qrys = "Writes", "Reads"
	}
	c := stat("commands", cmds, keyCommands)
	c.Detail = "API " + formatCount(r.commandsAPI) + " · UI " + formatCount(r.commandsUI)
	qs := stat("queries", qrys, keyQueries)
	qs.Detail = "API " + formatCount(r.queriesAPI) + " · UI " + formatCount(r.queriesUI)
	p.Groups = append(p.Groups, web.LiveGroup{Title: "Requests", Stats: []web.LiveStat{c, qs}})

	if n == 3 {
		busBacklog := web.LiveStat{Key: "commands-backlog", Label: "Backlog", Value: "—", Detail: commandsTopicSuffix}
		if r.hasCommandsBacklog {
			busBacklog.Value = formatCount(r.commandsBacklog)
		}
		handled := stat("commands-applied", "Applied", keyBusApplied)
		handled.Detail = formatCount(r.counts[keyRejected]) + " rejected"
		accepted := stat("commands-accepted", "Accepted", keyAccepted)
		accepted.Detail = "queued, answered 202"
		if r.counts[keyAccepted] == 0 {
			accepted.Detail = "only with --command-bus=async"
		}
		p.Groups = append(p.Groups, web.LiveGroup{Title: "Command bus", Stats: []web.LiveStat{accepted, handled, busBacklog}})

		eventsBacklog := web.LiveStat{Key: "events-backlog", Label: "Backlog", Value: "—", Detail: eventsTopicSuffix}
		if r.hasEventsBacklog {
			eventsBacklog.Value = formatCount(r.eventsBacklog)
		}
		published := stat("events-published", "Published", keyPublished)
		published.Detail = "by the relay"
		applied := stat("events-applied", "Projected", keyApplied)
		applied.Detail = "applied to the read DB"
		dup := stat("events-duplicate", "Duplicates", keyDuplicate)
		dup.Detail = "redeliveries ignored"
		p.Groups = append(p.Groups, web.LiveGroup{Title: "Event bus", Stats: []web.LiveStat{published, applied, dup, eventsBacklog}})

		lag := web.LiveStat{Key: "projection-lag", Label: "Projection lag", Value: "—", Detail: "no event applied yet"}
		if r.hasLag {
			lag.Value = formatSeconds(r.lag)
			lag.Detail = "write → read DB, last event"
		}
		newest := web.LiveStat{Key: "read-side-newest", Label: "Newest event", Value: "—", Detail: "no event applied yet"}
		if r.newest > 0 {
			t := time.Unix(0, int64(r.newest*1e9)).UTC()
			newest.Value = t.Format("15:04:05") + " UTC"
			newest.Detail = formatAgo(time.Since(t))
		}
		p.Groups = append(p.Groups, web.LiveGroup{Title: "Read side", Stats: []web.LiveStat{lag, newest}})

		parked := stat("events-parked", "Parked", keyParked)
		parked.URL, parked.Warn, parked.Detail = "/admin/error-log", r.counts[keyParked] > 0, "after their retries"
		held := stat("events-held", "Held", keyHeld)
		held.Warn, held.Detail = r.counts[keyHeld] > 0, "behind a parked event"
		gaps := stat("gap-retries", "Gap retries", keyGapRetries)
		gaps.Detail = "arrived before their turn"
		p.Groups = append(p.Groups, web.LiveGroup{Title: "Error log", Stats: []web.LiveStat{parked, held, gaps}})
	}

	if p.Preview {
		p.FlowText = "Totals since the app started."
		return p
	}
	moved := func(keys ...string) bool {
		for _, k := range keys {
			if delta(k) > 0 {
				return true
			}
		}
		return false
	}
	type flow struct {
		name, words string
		on          bool
	}
	sync := moved(keyCommands) && !moved(keyAccepted)
	flows := []flow{
		{flowCommand, "commands", moved(keyCommands)},
		{flowQuery, "queries", moved(keyQueries)},
		{flowCommandBus, "the command bus", moved(keyAccepted, keyBusApplied, keyRejected)},
		{flowCommandSync, "", sync},
		{flowWrite, "", sync || moved(keyBusApplied)},
		{flowRelay, "events published", moved(keyPublished)},
		{flowProject, "events projected", moved(keyApplied, keyDuplicate)},
	}
	var words []string
	for _, f := range flows {
		if !f.on {
			continue
		}
		p.Flows = append(p.Flows, f.name)
		if f.words != "" && (n == 3 || f.name == flowCommand || f.name == flowQuery) {
			words = append(words, f.words)
		}
	}
	switch {
	case prev == nil:
		p.FlowText = "Totals since the app started, every " + strconv.Itoa(int(liveInterval/time.Second)) + " s."
	case len(words) == 0:
		p.FlowText = "Idle: nothing moved in the last " + strconv.Itoa(int(liveInterval/time.Second)) + " s."
	default:
		p.FlowText = "Moving: " + strings.Join(words, ", ") + "."
	}
	return p
}

// architectureLive is the live panel alone, which replaces itself every
// 2 s. ?stage= is the stage whose diagram the page shows; the counts in
// the rest of the query are those of the panel it replaces.
func (s *Server) architectureLive(c *fiber.Ctx) error {
	active, _ := s.stage(c)
	n := active
	if q := c.Query("stage"); q != "" {
		k, err := strconv.Atoi(q)
		if err != nil || k < 0 || k >= len(Infos) {
			return fiber.NewError(http.StatusNotFound, "There is no stage "+strconv.Quote(q)+"; the stages are 0 to "+strconv.Itoa(len(Infos)-1)+".")
		}
		n = k
	}
	q, err := url.ParseQuery(string(c.Request().URI().QueryString()))
	if err != nil {
		q = url.Values{}
	}
	p := s.livePanel(c.UserContext(), n, active, parseLiveCounts(q))
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.render(c, http.StatusOK, web.LivePanelView(*p))
}

// formatCount writes a whole count with thin groups of three: 12 345.
func formatCount(v float64) string {
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u202f") // a narrow no-break space
		}
		b.WriteRune(ch)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// formatSeconds writes a lag: milliseconds under a second, else seconds.
func formatSeconds(v float64) string {
	if v < 1 {
		return strconv.Itoa(int(math.Round(v*1000))) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " s"
}

// formatAgo writes how long ago something was, coarsely.
func formatAgo(d time.Duration) string {
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + " s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h ago"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + " days ago"
}
