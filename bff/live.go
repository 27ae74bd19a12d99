package bff

import (
	"context"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/metrics"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/web"
)

// The sides of the requests the BFF counts, as its metric labels them.
const (
	sideCommand = "command"
	sideQuery   = "query"
)

// liveInterval is how often the live panel refreshes; the page says so.
const liveInterval = 2 * time.Second

// countSides counts the requests that are commands or queries, through
// the JSON API or the UI, for the live panel: stages 0 to 2 have no other
// numbers, and stage 3's UI calls its stage in-process.
func (s *Server) countSides(reg *metrics.Registry) fiber.Handler {
	s.sides = reg.CounterVec(metrics.SideRequests,
		"Requests this process answered that were commands (writes) or queries (reads), by side and by way in: the JSON API or the UI.",
		"side", "via")
	return func(c *fiber.Ctx) error {
		// Taken before: the stage's API may rewrite the path.
		side, via := requestSide(c.Method(), c.Path())
		err := c.Next()
		if side != "" {
			s.sides.With(side, via).Inc()
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
		return sideCommand, "api"
	case strings.HasPrefix(path, "/api/queries/"):
		return sideQuery, "api"
	case under("/api/orders"): // stage 0's one API: GET reads, the rest writes
		if read {
			return sideQuery, "api"
		}
		return sideCommand, "api"
	case under("/orders/new"): // the form, not yet a command
		return "", ""
	case under("/orders"):
		if method == fiber.MethodPost {
			return sideCommand, "ui"
		}
		if read {
			return sideQuery, "ui"
		}
	case path == "/dashboard" && read:
		return sideQuery, "ui"
	}
	return "", ""
}

// parseLiveCounts reads the counts a live panel's URL carries, by figure
// key; nil when it carries none (the panel's first rendering, or a
// hand-made URL). A count that is not a number is left out rather than
// refused: it only decides what is animated.
func parseLiveCounts(q url.Values) map[string]float64 {
	var out map[string]float64
	for k := range q {
		if k == "stage" {
			continue
		}
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
// active runs: the requests the BFF counted, then the figures the stage
// reports about itself. prev are the counts of the panel's last rendering
// (nil for the first), against which it tells what moved.
func (s *Server) livePanel(ctx context.Context, n, active int, prev map[string]float64) *web.LivePanel {
	desc := s.cfg.Descriptions[n]
	count := func(side, via string) float64 { return s.sides.With(side, via).Value() }
	commandsAPI, commandsUI := count(sideCommand, "api"), count(sideCommand, "ui")
	queriesAPI, queriesUI := count(sideQuery, "api"), count(sideQuery, "ui")
	var figures stageview.Figures
	if r, ok := s.cfg.Switch.stages[n].(Reporter); ok {
		figures = r.Figures(ctx)
	}

	// The running counts, by key: carried in the URL, compared next time.
	counts := map[string]float64{stageview.Commands: commandsAPI + commandsUI, stageview.Queries: queriesAPI + queriesUI}
	for _, g := range figures.Groups {
		for _, f := range g.Figures {
			if f.Kind == stageview.Total {
				counts[f.Key] = f.Value
			}
		}
	}
	maps.Copy(counts, figures.Totals)
	q := url.Values{"stage": {strconv.Itoa(n)}}
	for k, v := range counts {
		q.Set(k, strconv.FormatFloat(v, 'f', -1, 64))
	}
	p := &web.LivePanel{Stage: n, Preview: n != active, URL: "/architecture/live?" + q.Encode()}

	delta := func(k string) float64 {
		was, ok := prev[k]
		if !ok {
			return 0
		}
		// A count lower than before (another instance answered, or this
		// one restarted) is not movement.
		return max(0, counts[k]-was)
	}
	requests := func(key, label string, api, ui float64) web.LiveStat {
		st := web.LiveStat{Key: key, Label: label, Value: stageview.FormatCount(api + ui), Detail: "API " + stageview.FormatCount(api) + " · UI " + stageview.FormatCount(ui)}
		if d := delta(key); d > 0 {
			st.Delta = "+" + stageview.FormatCount(d)
		}
		return st
	}
	p.Groups = append(p.Groups, web.LiveGroup{Title: "Requests", Stats: []web.LiveStat{
		requests(stageview.Commands, desc.Commands, commandsAPI, commandsUI),
		requests(stageview.Queries, desc.Queries, queriesAPI, queriesUI),
	}})
	for _, g := range figures.Groups {
		group := web.LiveGroup{Title: g.Title}
		for _, f := range g.Figures {
			st := liveStat(f)
			if d := delta(f.Key); f.Kind == stageview.Total && d > 0 {
				st.Delta = "+" + stageview.FormatCount(d)
			}
			group.Stats = append(group.Stats, st)
		}
		p.Groups = append(p.Groups, group)
	}

	if p.Preview {
		p.FlowText = "Totals since the app started."
		return p
	}
	moved := func(keys []string) bool {
		for _, k := range keys {
			if delta(k) > 0 {
				return true
			}
		}
		return false
	}
	var words []string
	for _, f := range desc.Flows {
		if !moved(f.When) || moved(f.Unless) || slices.Contains(p.Flows, f.Name) {
			continue
		}
		p.Flows = append(p.Flows, f.Name)
		if f.Words != "" {
			words = append(words, f.Words)
		}
	}
	if h, ok := s.cfg.Switch.stages[n].(LagHistory); ok {
		p.Graph = lagGraph(h.LagSamples(ctx), time.Now())
	}
	// What waits is said whatever moved: "idle" with work stuck would be
	// wrong, and "moving" hides what does not.
	waiting := ""
	if len(figures.Waiting) > 0 {
		waiting = "Waiting: " + strings.Join(figures.Waiting, "; ") + "."
	}
	switch {
	case prev == nil:
		p.FlowText = strings.TrimSpace("Totals since the app started, every " + strconv.Itoa(int(liveInterval/time.Second)) + " s. " + waiting)
	case len(words) == 0 && waiting != "":
		p.FlowText = waiting
	case len(words) == 0:
		p.FlowText = "Idle: nothing moved in the last " + strconv.Itoa(int(liveInterval/time.Second)) + " s, and nothing waits."
	default:
		p.FlowText = strings.TrimSpace("Moving: " + strings.Join(words, ", ") + ". " + waiting)
	}
	return p
}

// liveStat shows a figure a stage reported.
func liveStat(f stageview.Figure) web.LiveStat {
	st := web.LiveStat{Key: f.Key, Label: f.Label, Value: "—", Detail: f.Detail, Warn: f.Warn, URL: actionURL(f.Action)}
	if f.Absent {
		return st
	}
	switch f.Kind {
	case stageview.Total, stageview.Level:
		st.Value = stageview.FormatCount(f.Value)
	case stageview.Duration:
		st.Value = formatSeconds(f.Value)
	case stageview.Time:
		t := time.Unix(0, int64(f.Value*1e9)).UTC()
		st.Value = t.Format("15:04:05") + " UTC"
		if st.Detail == "" {
			st.Detail = formatAgo(time.Since(t))
		}
	}
	return st
}

// actionURL is the page of a stage's action, for a figure that links it.
func actionURL(a stageview.Action) string {
	switch a {
	case stageview.ErrorLog:
		return "/admin/error-log"
	}
	return ""
}

// architectureLive is the live panel alone, which replaces itself every
// 2 s. ?stage= is the stage whose diagram the page shows; the counts in
// the rest of the query are those of the panel it replaces.
func (s *Server) architectureLive(c *fiber.Ctx) error {
	active, _ := s.stage(c)
	n, err := s.shownStage(c, active)
	if err != nil {
		return err
	}
	q, err := url.ParseQuery(string(c.Request().URI().QueryString()))
	if err != nil {
		q = url.Values{}
	}
	p := s.livePanel(c.UserContext(), n, active, parseLiveCounts(q))
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.render(c, http.StatusOK, web.LivePanelView(*p))
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
