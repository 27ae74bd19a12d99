package bff

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// fence holds write requests back while a switch flips the active stage.
//
// Stages 0–2 write no change log: an order they change carries no event, so
// stage 3's read database learns of it only by syncing with the database of
// record when the stage is entered. A write that commits between that sync
// and the flip would never reach the read database. So the switch syncs once
// while the old stage serves, then closes the fence: new writes wait at it,
// the writes in flight drain, the stage syncs again (a short pass: little
// changed since the first), flips, and opens the fence. The writes that
// waited then run on the new stage.
//
// Reads, the switch itself and the admin actions never wait: only requests
// that change orders pass the fence (fenceWrites). Commands queued on stage
// 3's command bus are applied with their events whichever stage is active,
// so they need no fence.
type fence struct {
	mu       sync.Mutex
	inFlight int
	// closed is not nil while the fence is closed; it is closed itself when
	// the fence opens, to wake the writes that wait.
	closed chan struct{}
	// drained is closed when the last write in flight leaves a closed fence.
	drained chan struct{}
}

// pass lets a write through once the fence is open, or fails when ctx ends
// first. The write calls leave when it is done.
func (f *fence) pass(ctx context.Context) error {
	for {
		f.mu.Lock()
		wait := f.closed
		if wait == nil {
			f.inFlight++
			f.mu.Unlock()
			return nil
		}
		f.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// leave marks a write that passed as done.
func (f *fence) leave() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inFlight--
	if f.inFlight == 0 && f.drained != nil {
		close(f.drained)
		f.drained = nil
	}
}

// close holds new writes back and waits until the writes in flight are
// done; then the caller has the stages to itself until it calls open. If ctx
// ends first, the fence opens again and close returns ctx's error.
func (f *fence) close(ctx context.Context) error {
	f.mu.Lock()
	f.closed = make(chan struct{})
	var drained chan struct{}
	if f.inFlight > 0 {
		f.drained = make(chan struct{})
		drained = f.drained
	}
	f.mu.Unlock()
	if drained == nil {
		return nil
	}
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
		f.open()
		return ctx.Err()
	}
}

// open lets writes through again.
func (f *fence) open() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed != nil {
		close(f.closed)
		f.closed = nil
	}
	f.drained = nil
}

// fenceWait bounds how long a write waits at a closed fence: a switch
// normally holds it for a short sync; past this the write is answered 503
// and may be sent again.
const fenceWait = 30 * time.Second

// fenceWrites passes a request that changes orders through the switch's
// fence and takes the active stage again once through: the stage taken when
// the request arrived may be the one a switch just left. Other requests go
// straight on.
func (s *Server) fenceWrites(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return c.Next()
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), fenceWait)
	err := s.cfg.Switch.fence.pass(ctx)
	cancel()
	if err != nil {
		c.Set(fiber.HeaderRetryAfter, "1")
		return fiber.NewError(http.StatusServiceUnavailable, "The stage is being switched; send the change again in a moment.")
	}
	defer s.cfg.Switch.fence.leave()
	n, _ := s.cfg.Switch.Active()
	c.Locals(localStage, n)
	return c.Next()
}
