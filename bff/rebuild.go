package bff

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/web"
)

// Rebuilder is implemented by a stage whose read database can be rebuilt
// from the database of record (stage 3's). The BFF runs a rebuild as a
// background job, one at a time, and shows its progress live.
type Rebuilder interface {
	// RebuildReadDatabase rebuilds the read database while the stage goes
	// on serving, calling progress with what to show and how far it is in
	// thousandths; the last call, when it succeeded, holds the summary. It
	// fails with an ECONFLICT error while another rebuild runs.
	RebuildReadDatabase(ctx context.Context, progress func(text string, permille int)) error
	// Behind tells, cheaply, whether the read database is so far behind
	// that entering the stage rebuilds it: then entering takes a while.
	Behind(ctx context.Context) (bool, error)
}

// rebuildJobs holds the BFF's rebuild: the running one, or the last one,
// whose outcome the architecture page shows.
type rebuildJobs struct {
	mu      sync.Mutex
	current *rebuildJob
	seq     int
}

// rebuildJob is a rebuild running in the background, and what to do
// after it: switch to a stage (switchTo ≥ 0) and go on to next.
type rebuildJob struct {
	id      int
	started time.Time

	mu       sync.Mutex
	text     string
	permille int
	finished bool
	failed   bool
	switchTo int
	next     string
	// changed is closed and replaced on every update, so that streams
	// wait for the next one without polling.
	changed chan struct{}
}

// errRebuildRunning is why a second rebuild cannot start.
var errRebuildRunning = order.Errorf(order.ECONFLICT, "A rebuild of the read database is already running; follow it below.")

// rebuilder returns the stage that can rebuild its read database, if any.
func (s *Server) rebuilder() (int, Rebuilder) {
	for _, n := range s.cfg.Switch.Numbers() {
		if r, ok := s.cfg.Switch.stages[n].(Rebuilder); ok {
			return n, r
		}
	}
	return -1, nil
}

func (s *Server) rebuildRoutes(r fiber.Router) {
	r.Post("/architecture/rebuild", s.requireAdmin, s.startRebuild)
	r.Get("/rebuild", s.rebuildPage)
	r.Get("/rebuild/events", s.rebuildEvents)
}

// startRebuild starts a rebuild from the architecture page's button and
// shows its progress there.
func (s *Server) startRebuild(c *fiber.Ctx) error {
	n, r := s.rebuilder()
	if r == nil {
		return fiber.NewError(http.StatusNotFound, "No stage of this server has a read database to rebuild.")
	}
	if _, started := s.runRebuild(r, -1, ""); !started {
		// The page with the running rebuild's progress and why the button
		// did nothing.
		a := s.architecture(n, c.Locals(localStage).(int))
		s.rebuildPanel(c, &a)
		a.Rebuild.Message = order.ErrorMessage(errRebuildRunning)
		if c.Get(fiber.HeaderAccept) == fiber.MIMEApplicationJSON {
			return errRebuildRunning
		}
		c.Set("HX-Push-Url", "/architecture?stage="+strconv.Itoa(n))
		return s.render(c, http.StatusConflict, web.ArchitecturePage(s.chrome(c, "Architecture", "architecture"), a))
	}
	return c.Redirect("/architecture?stage="+strconv.Itoa(n)+"#rebuild-panel", http.StatusSeeOther)
}

// runRebuild starts a rebuild job unless one runs; then it returns that one
// and false. After the rebuild the job switches to stage switchTo (if ≥ 0)
// and offers next.
func (s *Server) runRebuild(r Rebuilder, switchTo int, next string) (*rebuildJob, bool) {
	s.rebuilds.mu.Lock()
	defer s.rebuilds.mu.Unlock()
	if j := s.rebuilds.current; j != nil && !j.done() {
		return j, false
	}
	s.rebuilds.seq++
	j := &rebuildJob{id: s.rebuilds.seq, started: time.Now(), switchTo: switchTo, next: next,
		text: "Starting the rebuild", changed: make(chan struct{})}
	s.rebuilds.current = j
	go s.rebuildJob(r, j)
	return j, true
}

// rebuildJob runs j. It outlives the request that started it: a rebuild
// takes as long as the data needs, and the page follows it over events.
func (s *Server) rebuildJob(r Rebuilder, j *rebuildJob) {
	ctx := context.Background()
	s.log.InfoContext(ctx, "rebuild of the read database started", "job", j.id)
	err := r.RebuildReadDatabase(ctx, j.update)
	if order.ErrorCode(err) == order.ECONFLICT {
		// Another part of the process rebuilds (entering the stage at
		// start-up): entering below waits for it.
		err = nil
	}
	if err == nil {
		if n := j.target(); n >= 0 {
			ctx, cancel := context.WithTimeout(ctx, switchTimeout)
			err = s.cfg.Switch.Set(ctx, n, nil)
			cancel()
			if err == nil {
				s.log.InfoContext(ctx, "stage switched", "stage", n)
			}
		}
	}
	if err != nil {
		s.log.ErrorContext(ctx, "rebuild of the read database failed", "job", j.id, "err", err)
		text := "The rebuild failed; the read database is as it was. The server log says why."
		if n := j.target(); n >= 0 {
			text = "Stage " + strconv.Itoa(n) + " could not be entered: the rebuild of its read database failed. The server log says why."
		}
		j.finish(text, true)
		return
	}
	s.log.InfoContext(ctx, "rebuild of the read database done", "job", j.id, "summary", j.status().Text)
	j.finish("", false)
}

// update records progress and wakes the streams.
func (j *rebuildJob) update(text string, permille int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.text, j.permille = text, permille
	close(j.changed)
	j.changed = make(chan struct{})
}

// finish marks j finished; a non-empty text replaces the last progress.
func (j *rebuildJob) finish(text string, failed bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if text != "" {
		j.text = text
	}
	j.finished, j.failed = true, failed
	if !failed {
		j.permille = 1000
	}
	close(j.changed)
	j.changed = make(chan struct{})
}

func (j *rebuildJob) done() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.finished
}

func (j *rebuildJob) target() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.switchTo
}

// follow makes a running job switch to stage n and go on to next when it
// finished: a switch asked for while a rebuild runs rides on it. It
// returns false if j finished meanwhile.
func (j *rebuildJob) follow(n int, next string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.finished {
		return false
	}
	j.switchTo, j.next = n, next
	return true
}

// status is j as the UI shows it.
func (j *rebuildJob) status() web.RebuildProgress {
	p, _ := j.watch()
	return p
}

// watch is status with the channel that is closed on j's next change.
func (j *rebuildJob) watch() (web.RebuildProgress, <-chan struct{}) {
	j.mu.Lock()
	defer j.mu.Unlock()
	p := web.RebuildProgress{Value: j.permille, Max: 1000, Text: j.text, Finished: j.finished, Failed: j.failed}
	if !j.finished {
		p.EventsURL = "/rebuild/events?job=" + strconv.Itoa(j.id)
	}
	if j.next != "" {
		p.NextURL, p.NextLabel = j.next, "Continue"
		if j.switchTo >= 0 && !j.failed {
			p.NextLabel = "Continue in stage " + strconv.Itoa(j.switchTo)
		}
	}
	return p, j.changed
}

// job returns the current or last job, if its id is id (0: any).
func (s *Server) job(id int) *rebuildJob {
	s.rebuilds.mu.Lock()
	defer s.rebuilds.mu.Unlock()
	j := s.rebuilds.current
	if j == nil || id != 0 && j.id != id {
		return nil
	}
	return j
}

// rebuildPanel adds the rebuild panel to the architecture page of the
// stage that can rebuild its read database (architecture.go builds the
// rest).
func (s *Server) rebuildPanel(c *fiber.Ctx, a *web.Architecture) {
	n, r := s.rebuilder()
	if r == nil || a.Stage != n || !s.cfg.Descriptions[n].Has(stageview.Rebuild) {
		return
	}
	a.Rebuild = &web.RebuildPanel{CSRFToken: tokenOf(c)}
	if j := s.job(0); j != nil {
		p := j.status()
		// The panel is the place of a plain rebuild; a switch's rebuild
		// went on to its page.
		p.NextURL = ""
		a.Rebuild.Job = &p
	}
}

// switchBack is the page a stage switch returns to: where the switcher
// was used, marked with the switch's flash.
func switchBack(c *fiber.Ctx) string {
	back := "/orders"
	if ref, err := url.Parse(c.Get(fiber.HeaderReferer)); err == nil && strings.HasPrefix(ref.Path, "/") && !strings.HasPrefix(ref.Path, "//") &&
		ref.Path != "/stage" && ref.Path != "/rebuild" {
		back = ref.Path
	}
	return back + "?done=stage"
}

// rebuildPage follows a rebuild: ?job=<id>, or the current one.
func (s *Server) rebuildPage(c *fiber.Ctx) error {
	id, _ := strconv.Atoi(c.Query("job"))
	j := s.job(id)
	if j == nil {
		return fiber.NewError(http.StatusNotFound, "That rebuild is over and forgotten; the architecture page shows the last one.")
	}
	p := j.status()
	heading, intro := "Rebuilding the read database", "The read database is rebuilt from the database of record while the app keeps serving."
	if n := j.target(); n >= 0 {
		heading = "Entering stage " + strconv.Itoa(n)
		intro = "Stage " + strconv.Itoa(n) + "'s read database is behind the database of record, so it is rebuilt first. " +
			"The current stage keeps serving meanwhile; you go on when it is done."
	}
	return s.render(c, http.StatusOK, web.RebuildPage(s.chrome(c, heading, "architecture"), heading, intro, p))
}

// rebuildEvents streams a rebuild's progress as server-sent events: a
// "progress" event with the status's new content at each change, and at
// the end the final content then "done", which closes the browser's
// connection (sse-close). A stream ends at its lifetime (the server's
// write timeout) and the browser reconnects.
func (s *Server) rebuildEvents(c *fiber.Ctx) error {
	id, _ := strconv.Atoi(c.Query("job"))
	j := s.job(id)
	if j == nil {
		return fiber.NewError(http.StatusNotFound, "no such rebuild")
	}
	client, streams := c.IP(), s.streams
	if !streams.acquire(client) {
		return fiber.NewError(http.StatusTooManyRequests, "this address has "+strconv.Itoa(maxStreamsPerClient)+" live streams open already; close one first")
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no")
	shutdown := c.Context().Done()
	timing, log := s.live, s.log
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer streams.release(client)
		ctx := context.Background()
		end := time.NewTimer(timing.lifetime)
		defer end.Stop()
		if writeEvent(w, "", "", timing.retry) != nil {
			return
		}
		// At most a few updates a second: a browser needs no more.
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			p, changed := j.watch()
			html, err := renderString(ctx, web.RebuildProgressBody(p))
			if err != nil {
				log.WarnContext(ctx, "rebuild: render progress", "err", err)
				return
			}
			if writeEvent(w, "progress", html, 0) != nil {
				return // the browser went away
			}
			if p.Finished {
				_ = writeEvent(w, "done", "done", 0)
				return
			}
			select {
			case <-shutdown:
				return
			case <-end.C:
				return
			case <-changed:
			}
			select {
			case <-shutdown:
				return
			case <-end.C:
				return
			case <-tick.C:
			}
		}
	})
	return nil
}
