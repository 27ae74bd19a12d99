package bff

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// EnterActive prepares the active stage (an Enterer: stage 3 brings its read
// database up to date) in the background, while the server already serves,
// and returns a channel that receives the outcome once. It runs as a job the
// architecture and rebuild pages follow, and /readyz and GET
// /api/admin/stage say the stage is being entered until it is done. Reads
// meanwhile come from the read side as it is, and say which version they
// saw. A stage with nothing to prepare is done at once.
//
// The process starts this way after a crash, too: a rebuild of a large
// read database no longer keeps the listener shut for its whole length.
// Ending ctx stops the preparation (the app closing).
func (s *Server) EnterActive(ctx context.Context) <-chan error {
	done := make(chan error, 1)
	n, st := s.cfg.Switch.Active()
	e, ok := st.(Enterer)
	if !ok {
		done <- nil
		return done
	}
	s.rebuilds.mu.Lock()
	s.rebuilds.seq++
	j := &rebuildJob{id: s.rebuilds.seq, started: time.Now(), switchTo: n,
		text: "Bringing stage " + strconv.Itoa(n) + "'s read side up to date", changed: make(chan struct{})}
	s.rebuilds.current = j
	s.rebuilds.mu.Unlock()
	go func() {
		err := e.Enter(ctx, func(did, total int64) {
			permille := 0
			if total > 0 {
				permille = int(min(1000, did*1000/total))
			}
			j.update(fmt.Sprintf("Bringing stage %d's read side up to date: %d of %d", n, did, total), permille)
		})
		if err != nil {
			s.log.ErrorContext(ctx, "entering the stage at start-up failed; its reads come from the read side as it is", "stage", n, "err", err)
			j.finish("Stage "+strconv.Itoa(n)+"'s read side could not be brought up to date at start-up. The server log says why.", true)
		} else {
			s.log.InfoContext(ctx, "stage entered", "stage", n, "after", time.Since(j.started).Round(time.Millisecond))
			j.finish("Stage "+strconv.Itoa(n)+"'s read side is up to date.", false)
		}
		done <- err
	}()
	return done
}
