package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// Layout of the chart, in pixels.
const (
	svgWidth    = 980
	svgRowH     = 30
	svgLabelW   = 430
	svgBarW     = 300
	svgTop      = 70
	svgMaxScore = 2.0 // bars stop at twice the target
)

// WriteSVG draws the report as a bar chart: one bar per figure, its length
// how far the figure is toward its target (the dashed line: value÷target,
// or target÷value where lower is better, up to twice the target), green
// where the target is met, red where it is missed, grey where the figure
// has no target or was not measured; the figure and its target are
// written beside the bar.
func (rep *Table) WriteSVG(w io.Writer) error {
	height := svgTop + svgRowH*len(rep.Rows) + 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="system-ui, sans-serif" font-size="13">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", svgWidth, height)
	b.WriteString(`<text x="16" y="28" font-size="18" font-weight="600">Staircase at speed: each figure against its target</text>` + "\n")
	met, missed, absent := 0, 0, 0
	for _, r := range rep.Rows {
		switch {
		case r.Value == nil:
			absent++
		case r.Met != nil && *r.Met:
			met++
		case r.Met != nil:
			missed++
		}
	}
	fmt.Fprintf(&b, `<text x="16" y="50" fill="#555">%d met · %d missed · %d not measured. The dashed line is the target; a longer bar is better.</text>`+"\n",
		met, missed, absent)
	x0 := float64(svgLabelW)
	unit := float64(svgBarW) / svgMaxScore
	for i, r := range rep.Rows {
		y := svgTop + i*svgRowH
		if i%2 == 0 {
			fmt.Fprintf(&b, `<rect x="0" y="%d" width="%d" height="%d" fill="#f6f7f9"/>`+"\n", y, svgWidth, svgRowH)
		}
		fmt.Fprintf(&b, `<text x="16" y="%d">%s <tspan fill="#777">(%s)</tspan></text>`+"\n",
			y+19, html.EscapeString(r.Figure), html.EscapeString(r.Backend))
		color, length := "#b0b4ba", 0.0
		switch {
		case r.Value == nil:
		case r.Met == nil:
			length = 0.5 * unit // no target: a stub, the value says it all
		default:
			length = math.Min(r.Score(), svgMaxScore) * unit
			color = "#2e9e5b"
			if !*r.Met {
				color = "#d64545"
			}
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" rx="3" fill="%s"/>`+"\n",
			x0, y+7, math.Max(length, 2), svgRowH-14, color)
		text := r.ValueText()
		if r.Target != "" {
			text += "  (target " + r.Target + ")"
		}
		if r.Value != nil && r.Met != nil && !*r.Met {
			text += "  missed"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="%s">%s</text>`+"\n",
			x0+float64(svgBarW)+12, y+19, map[bool]string{true: "#b22", false: "#222"}[r.Met != nil && !*r.Met], html.EscapeString(text))
	}
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333" stroke-dasharray="4 3"/>`+"\n",
		x0+unit, svgTop-8, x0+unit, svgTop+svgRowH*len(rep.Rows))
	fmt.Fprintf(&b, `<text x="16" y="%d" fill="#777" font-size="11">Every figure measured in one run of make bench on this machine; the raw figures are in bench.json.</text>`+"\n",
		svgTop+svgRowH*len(rep.Rows)+25)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
