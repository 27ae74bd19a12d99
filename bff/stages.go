package bff

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
)

// Switch holds the stages and which one is active. A request takes the
// active stage once, when it starts, and finishes on it even if the stage
// changes meanwhile.
type Switch struct {
	stages map[int]Stage
	active atomic.Int64
	mu     sync.Mutex // serializes switches
	// fence holds writes back while a stage that must prepare is flipped
	// to (fence.go).
	fence fence
}

// NewSwitch returns a switch over the given stages with initial active.
func NewSwitch(stages map[int]Stage, initial int) (*Switch, error) {
	if _, ok := stages[initial]; !ok {
		return nil, fmt.Errorf("stage %d is not available (have %v)", initial, keys(stages))
	}
	s := &Switch{stages: stages}
	s.active.Store(int64(initial))
	return s, nil
}

// Active returns the active stage and its number.
func (s *Switch) Active() (int, Stage) {
	n := int(s.active.Load())
	return n, s.stages[n]
}

// Numbers lists the available stages in order.
func (s *Switch) Numbers() []int { return keys(s.stages) }

// Set makes stage n active. A stage that implements Enterer is prepared
// first (progress reported through progress), while the stage before it
// keeps serving; then the fence holds writes back, the writes in flight
// drain, the stage is entered once more to take in what they changed, and
// the flip happens before the writes go on (fence.go). Nothing written by
// the old stage is left out of the new one's preparation.
func (s *Switch) Set(ctx context.Context, n int, progress func(done, total int64)) error {
	st, ok := s.stages[n]
	if !ok {
		return fmt.Errorf("stage %d is not available", n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if int(s.active.Load()) == n {
		return nil
	}
	e, ok := st.(Enterer)
	if !ok {
		s.active.Store(int64(n))
		return nil
	}
	if progress == nil {
		progress = func(int64, int64) {}
	}
	if err := e.Enter(ctx, progress); err != nil {
		return fmt.Errorf("enter stage %d: %w", n, err)
	}
	if err := s.fence.close(ctx); err != nil {
		return fmt.Errorf("enter stage %d: wait for the writes in flight: %w", n, err)
	}
	defer s.fence.open()
	if err := e.Enter(ctx, func(int64, int64) {}); err != nil {
		return fmt.Errorf("enter stage %d: %w", n, err)
	}
	s.active.Store(int64(n))
	return nil
}

// Switching tells whether a switch is running.
func (s *Switch) Switching() bool {
	if s.mu.TryLock() {
		s.mu.Unlock()
		return false
	}
	return true
}

func keys(m map[int]Stage) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}
