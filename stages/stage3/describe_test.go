package stage3_test

import (
	"slices"
	"testing"

	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/stages/stage3"
)

// TestTheFlowsWatchFiguresTheStageReportsAndAreDrawn keeps the description
// and the figures together: a flow that watched a figure no longer
// reported, or that no arrow or box carries, would never light up.
func TestTheFlowsWatchFiguresTheStageReportsAndAreDrawn(t *testing.T) {
	d := stage3.Describe()
	figures := stage3.Counts{Accepted: 1}.Figures()
	reported := []string{stageview.Commands, stageview.Queries}
	for _, g := range figures.Groups {
		for _, f := range g.Figures {
			if f.Kind == stageview.Total {
				reported = append(reported, f.Key)
			}
		}
	}
	for k := range figures.Totals {
		reported = append(reported, k)
	}
	drawn := map[string]bool{}
	for _, b := range d.Diagram.Boxes {
		for _, f := range b.Flows {
			drawn[f] = true
		}
	}
	for _, a := range d.Diagram.Arrows {
		for _, f := range a.Flows {
			drawn[f] = true
		}
	}
	watched := map[string]bool{}
	for _, f := range d.Flows {
		watched[f.Name] = true
		if !drawn[f.Name] {
			t.Errorf("flow %q is drawn nowhere", f.Name)
		}
		for _, k := range slices.Concat(f.When, f.Unless) {
			if !slices.Contains(reported, k) {
				t.Errorf("flow %q watches %q, which the stage does not report", f.Name, k)
			}
		}
	}
	for f := range drawn {
		if !watched[f] {
			t.Errorf("the diagram draws flow %q, which no figure sets off", f)
		}
	}
}
