package bff

import (
	"context"

	"github.com/staircase/staircase/internal/metrics"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/stages/stage0"
	"github.com/staircase/staircase/stages/stage1"
	"github.com/staircase/staircase/stages/stage2"
	"github.com/staircase/staircase/stages/stage3"
	"github.com/staircase/staircase/stages/stage3/workshop"
	"github.com/staircase/staircase/web"
)

// Infos are the stages' own descriptions, which the tests serve.
var Infos = []stageview.Description{stage0.Describe(), stage1.Describe(), stage2.Describe(), stage3.Describe()}

// Diagram is stage n's diagram as the architecture page draws it.
func Diagram(n int) web.Diagram { return diagramView(Infos[n]) }

// The live flows the stages draw.
const (
	flowCommand     = stageview.FlowCommand
	flowQuery       = stageview.FlowQuery
	flowCommandSync = stage3.FlowCommandSync
	flowCommandBus  = stage3.FlowCommandBus
	flowWrite       = stage3.FlowWrite
	flowRelay       = stage3.FlowRelay
	flowProject     = stage3.FlowProject
)

// The gauges a test sets for the fake stage 3's bus backlog.
const (
	testEventsBacklog   = "test_events_backlog"
	testCommandsBacklog = "test_commands_backlog"
	// What waits and what holds it back (0 or 1 for a switch).
	testParkedNow       = "test_parked_now"
	testHeldNow         = "test_held_now"
	testUnpublished     = "test_unpublished"
	testWriteDown       = "test_write_down"
	testProjectorPaused = "test_projector_paused"
	testRelayPaused     = "test_relay_paused"
)

// liveStage is a stage 3 whose live figures are stage 3's own, made of the
// counts in reg under stage 3's metric names.
type liveStage struct {
	fakeStage
	reg *metrics.Registry
}

func (s liveStage) Figures(context.Context) stageview.Figures {
	bus := s.reg.CounterVec(metrics.BusCommands, "h", "outcome")
	count := func(name string) float64 { return s.reg.Counter(name, "h").Value() }
	gauge := func(name string) float64 { return s.reg.Gauge(name, "h").Value() }
	return stage3.Counts{
		Accepted: bus.With("accepted").Value(), Applied: bus.With("applied").Value(), Rejected: bus.With("rejected").Value(),
		Published: count(metrics.RelayPublished), Projected: count(metrics.ProjectorApplied), Duplicate: count(metrics.ProjectorDuplicate),
		Parked: count(metrics.ProjectorParked), Held: count(metrics.ProjectorHeld), GapRetries: count(metrics.ProjectorGapRetries),
		LastLag: gauge(metrics.ProjectionLastLag), Newest: gauge(metrics.ProjectionNewest),
		Behind: gauge(metrics.ProjectionLastLag), BehindKnown: true,
		EventsBacklog:   stage3.Backlog{Messages: gauge(testEventsBacklog), Known: true},
		CommandsBacklog: stage3.Backlog{Messages: gauge(testCommandsBacklog), Known: true},
		ParkedNow:       stage3.Backlog{Messages: gauge(testParkedNow), Known: true},
		HeldNow:         stage3.Backlog{Messages: gauge(testHeldNow), Known: true},
		Unpublished:     stage3.Backlog{Messages: gauge(testUnpublished), Known: true},
		Holding: workshop.State{WriteDown: gauge(testWriteDown) == 1, ProjectorPaused: gauge(testProjectorPaused) == 1,
			RelayPaused: gauge(testRelayPaused) == 1},
	}.Figures()
}

// errorLogStage is a stage 3 with an error log.
type errorLogStage struct {
	fakeStage
	ErrorLog
}
