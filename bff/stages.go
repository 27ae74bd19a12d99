package bff

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
)

// StageInfo describes a stage to people: its number, short name and what
// it changes from the stage before.
type StageInfo struct {
	Number  int
	Name    string
	Changed string // what changed from the previous stage, in two or three sentences
	Package string // the package that implements it
}

// Infos describes the four stages.
var Infos = []StageInfo{
	{0, "CRUD", "One model that is the table row, a CRUD service and one REST API, /api/orders. Reads and writes go through the same code and the same tables; the dashboard is computed on the fly with joins and aggregates.", "stages/stage0"},
	{1, "Separate APIs", "The API splits in two: a modify API of commands that answer only ack or nak (with the new version), and a retrieve API of queries that change nothing. The model underneath is still stage 0's row; the BFF's client code splits into a command side and a query side.", "stages/stage1"},
	{2, "Separate models", "The model splits too. Writes load the order aggregate, which enforces every rule, and save it through a repository with optimistic concurrency on its version. Reads never load an aggregate: they select DTOs shaped for each screen from views made for reading, in the same database.", "stages/stage2"},
	{3, "Separate databases", "The read side gets its own database. Each write transaction also appends its events to a change log in the database of record; the event bus carries them to a projector that keeps denormalized read tables up to date, so reads are eventually consistent. Optionally, commands travel on a command bus and are applied at the rate the write database sustains.", "stages/stage3"},
}

// Switch holds the stages and which one is active. A request takes the
// active stage once, when it starts, and finishes on it even if the stage
// changes meanwhile.
type Switch struct {
	stages map[int]Stage
	active atomic.Int64
	mu     sync.Mutex // serializes switches
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
// keeps serving.
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
	if e, ok := st.(Enterer); ok {
		if progress == nil {
			progress = func(int64, int64) {}
		}
		if err := e.Enter(ctx, progress); err != nil {
			return fmt.Errorf("enter stage %d: %w", n, err)
		}
	}
	s.active.Store(int64(n))
	return nil
}

func keys(m map[int]Stage) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}
