package bff

import (
	"context"
	"strconv"
)

// beginSwitch is the one way a stage switch starts, from the admin API,
// the header's switcher and the tour alike. It makes stage n active at
// once when entering it is quick, and returns a nil job. When n's read
// database must be rebuilt first, or a rebuild runs already, the switch
// rides on that rebuild in the background instead: it returns the job,
// which switches when the rebuild is done and then offers next. Entering
// a stage never runs beside a rebuild: a rebuild running for another
// switch, or a switch running, is errSwitchRunning.
func (s *Server) beginSwitch(ctx context.Context, n int, next, by string) (*rebuildJob, error) {
	st, ok := s.cfg.Switch.stages[n]
	if !ok {
		return nil, invalidField("stage", "must be one of the stages this server runs: "+numbers(s.cfg.Switch.Numbers()))
	}
	active, _ := s.cfg.Switch.Active()
	r, rebuilds := st.(Rebuilder)
	if j := s.job(0); j != nil && !j.done() {
		switch t := j.target(); {
		case t == n:
			return j, nil
		case t >= 0:
			return nil, errSwitchRunning
		case rebuilds && active != n && j.follow(n, next):
			// The button's rebuild takes the switch along.
			return j, nil
		}
	}
	if s.cfg.Switch.Switching() {
		return nil, errSwitchRunning
	}
	if active == n {
		return nil, nil
	}
	if rebuilds {
		// If the check fails, Enter decides again and reports.
		if behind, err := r.Behind(ctx); err == nil && behind {
			j, started := s.runRebuild(r, n, next)
			if !started && !j.follow(n, next) {
				return nil, errSwitchRunning
			}
			return j, nil
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), switchTimeout)
	defer cancel()
	if err := s.cfg.Switch.Set(ctx, n, nil); err != nil {
		s.log.ErrorContext(ctx, "stage switch failed", "stage", n, "by", by, "err", err)
		return nil, err
	}
	s.log.InfoContext(ctx, "stage switched", "stage", n, "by", by)
	return nil, nil
}

// switchedFlash is the message after a switch to stage n: which stage is
// active now, and what changed from the one before.
func (s *Server) switchedFlash(n int) string {
	d := s.cfg.Descriptions[n]
	return "Switched to stage " + strconv.Itoa(n) + " · " + d.Name + ". " + d.Changed
}
