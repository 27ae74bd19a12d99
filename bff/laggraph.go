package bff

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/web"
)

// The lag graph on the architecture page: a stage's LagHistory drawn as
// two line charts over a window ending now, so that the lines move left as
// time goes on and a lag that rose and fell stays in sight. The window
// spans the samples there are, from one minute up to graphWindow, in whole
// minutes: a workshop that just started sees its first minute in full.

// graphWindow is the longest span the graph shows; minWindow the shortest.
const (
	graphWindow = 5 * time.Minute
	minWindow   = time.Minute
)

// The charts' layout, in the SVG's own units.
const (
	chartW, chartH         = 460, 150
	plotX, plotY           = 44, 8
	plotW, plotH           = chartW - plotX - 8, chartH - plotY - 24
	chartGap               = 3 * time.Second // a longer pause between samples breaks the line
	minLagScale, minCounts = 1.0, 5.0
)

// lagGraph lays out the samples (oldest first) as of now.
func lagGraph(samples []stageview.LagSample, now time.Time) *web.LagGraph {
	span := graphWindow
	for _, s := range samples {
		if age := now.Sub(s.At); age <= graphWindow {
			span = min(graphWindow, max(minWindow, age.Truncate(time.Minute)+time.Minute))
			break
		}
	}
	if len(samples) == 0 {
		span = minWindow
	}
	start := now.Add(-span)
	var shown []stageview.LagSample
	for _, s := range samples {
		if !s.At.Before(start) && !s.At.After(now) {
			shown = append(shown, s)
		}
	}
	g := &web.LagGraph{Window: strconv.Itoa(int(span/time.Minute)) + " min", Samples: len(shown)}
	lag := series{key: "lag", label: "Projection lag", format: formatSeconds, value: func(s stageview.LagSample) float64 {
		if !s.LagKnown {
			return -1
		}
		return s.Lag
	}}
	g.Lag = chart("lag", "Projection lag",
		"How far the read side was behind, second by second: the age of the oldest event it did not have yet.",
		shown, now, span, minLagScale, false, formatSeconds, lag)
	count := func(v float64) string { return stageview.FormatCount(v) }
	g.Backlog = chart("backlog", "Waiting",
		"What waited, second by second: changes in the change log not yet published, events on the bus not yet applied by the projector, commands queued.",
		shown, now, span, minCounts, true, count,
		series{key: "unpublished", label: "Not published", format: count, value: func(s stageview.LagSample) float64 { return s.Unpublished }},
		series{key: "events", label: "Events for the projector", format: count, value: func(s stageview.LagSample) float64 { return s.EventsPending }},
		series{key: "commands", label: "Commands queued", format: count, value: func(s stageview.LagSample) float64 { return s.CommandsPending }},
	)
	return g
}

// series is one line of a chart: its value in a sample, negative when not
// known.
type series struct {
	key, label string
	format     func(float64) string
	value      func(stageview.LagSample) float64
}

func chart(key, title, desc string, samples []stageview.LagSample, now time.Time, span time.Duration, minScale float64, whole bool, label func(float64) string, ss ...series) web.Chart {
	c := web.Chart{Key: key, Title: title, Desc: desc, Width: chartW, Height: chartH, PlotX: plotX, PlotY: plotY, PlotW: plotW, PlotH: plotH}
	peak := 0.0
	for _, s := range samples {
		for _, se := range ss {
			peak = max(peak, se.value(s))
		}
	}
	top := niceCeil(max(peak, minScale))
	c.MaxValue, c.Max = top, label(top)
	for _, f := range []float64{0, 0.5, 1} {
		// A count's axis has no tick between whole numbers.
		if f == 0.5 && whole && math.Mod(top, 2) != 0 {
			continue
		}
		c.YTicks = append(c.YTicks, web.ChartTick{Pos: yOf(f*top, top), Label: label(f * top)})
	}
	step := time.Minute
	if span <= 2*time.Minute {
		step = span / 4
	}
	for ago := span; ago >= 0; ago -= step {
		t := web.ChartTick{Pos: xOf(now.Add(-ago), now, span), Label: agoLabel(ago)}
		c.XTicks = append(c.XTicks, t)
	}
	for _, se := range ss {
		out := web.ChartSeries{Key: se.key, Label: se.label, Last: "—", LastValue: -1}
		var line []string
		var prev time.Time
		flush := func() {
			if len(line) == 1 {
				// A lone sample still shows, as a short flat stroke.
				x, y, _ := strings.Cut(line[0], ",")
				xi, _ := strconv.Atoi(x)
				line = append(line, strconv.Itoa(xi+2)+","+y)
			}
			if len(line) > 0 {
				out.Lines = append(out.Lines, strings.Join(line, " "))
			}
			line = nil
		}
		for _, s := range samples {
			v := se.value(s)
			if v < 0 || (!prev.IsZero() && s.At.Sub(prev) > chartGap) {
				flush()
			}
			prev = s.At
			if v < 0 {
				continue
			}
			out.Peak = max(out.Peak, v)
			line = append(line, strconv.Itoa(xOf(s.At, now, span))+","+strconv.Itoa(yOf(v, top)))
		}
		flush()
		if n := len(samples); n > 0 {
			if v := se.value(samples[n-1]); v >= 0 {
				out.Last, out.LastValue = se.format(v), v
			}
		}
		c.Series = append(c.Series, out)
	}
	return c
}

// agoLabel writes a tick of the time axis: "now", "−45 s", "−3 min".
func agoLabel(d time.Duration) string {
	switch {
	case d == 0:
		return "now"
	case d%time.Minute == 0:
		return "−" + strconv.Itoa(int(d/time.Minute)) + " min"
	}
	return "−" + strconv.Itoa(int(d/time.Second)) + " s"
}

func xOf(t, now time.Time, span time.Duration) int {
	f := 1 - float64(now.Sub(t))/float64(span)
	return plotX + int(math.Round(f*plotW))
}

func yOf(v, top float64) int {
	return plotY + plotH - int(math.Round(v/top*plotH))
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
