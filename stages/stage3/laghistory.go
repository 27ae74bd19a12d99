package stage3

import (
	"context"
	"sync"
	"time"

	"github.com/staircase/staircase/internal/stageview"
)

// The lag graph's data: once a second, while someone looks, the stage
// samples how far its read side is behind and what waits where — the
// change log not yet published, the bus's messages not yet handled by the
// projector, the commands queued — into a ring of the last few minutes.
// It asks the databases and the bus only what the live panel asks; it
// starts sampling at the first look, so an app nobody watches asks
// nothing, and stops with the stage.

// lagSamples is how many samples the ring keeps: five minutes, one a
// second.
const (
	lagSamples  = 300
	lagInterval = time.Second
)

// lagHistory is a bounded ring of samples.
type lagHistory struct {
	mu      sync.Mutex
	samples []stageview.LagSample // oldest first once full: see all
	next    int
	full    bool
	// watched is closed at the first look, to start sampling.
	watched  chan struct{}
	watching sync.Once
}

func newLagHistory() *lagHistory {
	return &lagHistory{samples: make([]stageview.LagSample, lagSamples), watched: make(chan struct{})}
}

func (h *lagHistory) add(s stageview.LagSample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.samples[h.next] = s
	h.next = (h.next + 1) % len(h.samples)
	if h.next == 0 {
		h.full = true
	}
}

// all returns the samples, oldest first, and starts the sampling.
func (h *lagHistory) all() []stageview.LagSample {
	h.watching.Do(func() { close(h.watched) })
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.full {
		return append([]stageview.LagSample(nil), h.samples[:h.next]...)
	}
	return append(append([]stageview.LagSample(nil), h.samples[h.next:]...), h.samples[:h.next]...)
}

// run samples every interval from the first look until ctx ends.
func (h *lagHistory) run(ctx context.Context, interval time.Duration, sample func(context.Context) stageview.LagSample) {
	select {
	case <-ctx.Done():
		return
	case <-h.watched:
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		h.add(sample(ctx))
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// LagSamples returns the lag graph's samples of the last few minutes,
// oldest first, one a second. The first call starts the sampling: it
// returns what there is so far.
func (s *Stage) LagSamples(context.Context) []stageview.LagSample {
	return s.history.all()
}

// sampleLag measures the read side's lag and the backlogs now. A figure
// that cannot be told is negative (LagKnown false for the lag).
func (s *Stage) sampleLag(ctx context.Context) stageview.LagSample {
	smp := stageview.LagSample{At: time.Now(), Unpublished: -1, EventsPending: -1, CommandsPending: -1}
	smp.Lag, smp.LagKnown = s.lagNow(ctx)
	if n, _, err := s.unpublished(ctx); err == nil {
		smp.Unpublished = float64(n)
	}
	waiting := s.waitingMessages(ctx)
	if n, ok := waiting[s.topics.events]; ok {
		smp.EventsPending = n
	}
	if n, ok := waiting[s.topics.commands]; ok {
		smp.CommandsPending = n
	}
	return smp
}

// waitingMessages is, by topic, how many messages wait for the stage's
// durable consumer: not yet delivered, or delivered and not yet
// acknowledged (held by a paused or delayed projector).
func (s *Stage) waitingMessages(ctx context.Context) map[string]float64 {
	out := map[string]float64{}
	for _, st := range s.busStreams(ctx) {
		for _, c := range st.Consumers {
			if c.Err == "" {
				out[st.Topic] += float64(c.Pending) + float64(c.AckPending)
			}
		}
	}
	return out
}
