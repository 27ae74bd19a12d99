package bff

import (
	"bufio"
	"context"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/pmezard/go-difflib/difflib"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/web"
)

// tourRoutes mounts the tour: /tour starts it, /tour/{n} is stage n's
// page, and POST /tour/{n}/try/{step} presses one of its "try this now"
// buttons (an admin action).
func (s *Server) tourRoutes(r fiber.Router) {
	r.Get("/tour", func(c *fiber.Ctx) error { return c.Redirect("/tour/0", http.StatusSeeOther) })
	r.Get("/tour/:n<int>", s.tourPage)
	r.Post("/tour/:n<int>/try/:step", s.requireAdmin, s.tourTry)
}

// tourStage reads the stage of a tour path; one with no lesson is 404.
func (s *Server) tourStage(c *fiber.Ctx) (int, error) {
	n, err := strconv.Atoi(c.Params("n"))
	if err != nil || n < 0 || n >= len(lessons) || n >= len(s.cfg.Descriptions) {
		return 0, fiber.NewError(http.StatusNotFound, "The tour has a page for each stage, 0 to "+strconv.Itoa(min(len(lessons), len(s.cfg.Descriptions))-1)+".")
	}
	return n, nil
}

func (s *Server) tourPage(c *fiber.Ctx) error {
	n, err := s.tourStage(c)
	if err != nil {
		return err
	}
	v := s.tourView(c, n)
	if key := c.Query("tried"); key != "" {
		for _, st := range v.Steps {
			if st.Key == key {
				v.Done = "Done: " + st.Title + ". " + st.Do
			}
		}
	}
	return s.render(c, http.StatusOK, web.TourPage(s.chrome(c, "Tour · stage "+strconv.Itoa(n), "tour"), v))
}

// tourView builds stage n's tour page.
func (s *Server) tourView(c *fiber.Ctx, n int) web.Tour {
	d := s.cfg.Descriptions[n]
	active := c.Locals(localStage).(int)
	l := lessons[n]
	v := web.Tour{
		Stage: n, Active: active, Name: d.Name, Why: l.Why, Changed: d.Changed, Package: d.Package,
		ArticleURL: ibmCQRS, Diagram: diagramView(d), CSRFToken: tokenOf(c),
		Available: s.cfg.Switch.stages[n] != nil,
	}
	for _, k := range s.cfg.Descriptions[:min(len(lessons), len(s.cfg.Descriptions))] {
		v.Tabs = append(v.Tabs, web.TourLink{Number: k.Number, Label: k.Name, URL: "/tour/" + strconv.Itoa(k.Number), Current: k.Number == n})
	}
	if n > 0 {
		v.Prev = &v.Tabs[n-1]
	}
	if n+1 < len(v.Tabs) {
		v.Next = &v.Tabs[n+1]
	}
	s.tourCode(&v, n)
	v.CanAct = s.mayAdmin(c)
	if !v.CanAct {
		if s.access.admin != nil {
			v.SignInURL = "/sign-in?next=" + url.QueryEscape("/tour/"+strconv.Itoa(n))
		} else {
			v.LockedText = "The buttons switch the stage for everyone, so they work only on the machine the server runs on."
		}
	}
	controls := s.controls(c.UserContext())
	v.WorkshopOff = s.cfg.Workshop == nil
	for _, st := range l.Steps {
		ts := web.TourStep{Key: st.Key, Title: st.Title, Do: st.Do, Watch: st.Watch, Curl: st.Curl,
			Action: "/tour/" + strconv.Itoa(n) + "/try/" + st.Key, Button: tourButton(st, n, active)}
		settings, ok := resolveSettings(st, controls)
		ts.Shown = ok && v.Available
		for _, set := range settings {
			ts.Settings = append(ts.Settings, set.key+" = "+set.value)
		}
		v.Steps = append(v.Steps, ts)
	}
	return v
}

func tourButton(st tourStep, n, active int) string {
	switch {
	case st.Restore:
		return "Put the controls back"
	case len(st.Settings) == 0 && n == active:
		return "Stay in stage " + strconv.Itoa(n)
	case len(st.Settings) == 0:
		return "Switch to stage " + strconv.Itoa(n)
	case n == active:
		return "Set it"
	}
	return "Switch to stage " + strconv.Itoa(n) + " and set it"
}

// mayAdmin tells whether the request may take admin actions (requireAdmin
// would let it through).
func (s *Server) mayAdmin(c *fiber.Ctx) bool {
	if s.access.admin == nil {
		return s.access.local(c)
	}
	return s.signedIn(c)
}

// controls are the server's workshop controls by key; none when they are
// off.
func (s *Server) controls(ctx context.Context) map[string]stageview.Control {
	out := map[string]stageview.Control{}
	if s.cfg.Workshop == nil {
		return out
	}
	for _, c := range s.cfg.Workshop.Controls(ctx) {
		out[c.Key] = c
	}
	return out
}

// setting is a control's key and the value a step sets it to.
type setting struct{ key, value string }

// resolveSettings is what a step sets, in the values the server's
// controls take; ok is false when the server lacks one of them (or, for
// Restore, has none).
func resolveSettings(st tourStep, controls map[string]stageview.Control) (out []setting, ok bool) {
	if st.Restore {
		for _, key := range controlKeys(controls) {
			c := controls[key]
			out = append(out, setting{c.Key, c.Default})
		}
		return out, len(out) > 0
	}
	for _, want := range st.Settings {
		c, found := controls[want.Control]
		if !found {
			return nil, false
		}
		value, takes := "", false
		for _, v := range want.Values {
			if c.Kind != stageview.ControlChoice || contains(c.Choices, v) {
				value, takes = v, true
				break
			}
		}
		if !takes {
			return nil, false
		}
		out = append(out, setting{c.Key, value})
	}
	return out, true
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// controlKeys lists the keys in a steady order.
func controlKeys(controls map[string]stageview.Control) []string {
	keys := make([]string, 0, len(controls))
	for k := range controls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// tourTry presses a step's button: it switches to the lesson's stage (as
// the header's switcher does) and sets the step's workshop controls, then
// comes back to the step.
func (s *Server) tourTry(c *fiber.Ctx) error {
	n, err := s.tourStage(c)
	if err != nil {
		return err
	}
	var step *tourStep
	for i := range lessons[n].Steps {
		if lessons[n].Steps[i].Key == c.Params("step") {
			step = &lessons[n].Steps[i]
		}
	}
	if step == nil {
		return fiber.NewError(http.StatusNotFound, "The tour of stage "+strconv.Itoa(n)+" has no step "+strconv.Quote(c.Params("step"))+".")
	}
	settings, ok := resolveSettings(*step, s.controls(c.UserContext()))
	if !ok {
		return fiber.NewError(http.StatusNotFound, "This server has not the workshop controls this step sets (start it with --workshop).")
	}
	back := "/tour/" + strconv.Itoa(n) + "?tried=" + url.QueryEscape(step.Key) + "#step-" + step.Key
	j, err := s.beginSwitch(c.UserContext(), n, back, "tour")
	if err != nil {
		if order.ErrorCode(err) == order.ECONFLICT {
			return fiber.NewError(http.StatusConflict, "A stage switch is already running; press the button again when it is done.")
		}
		return err
	}
	for _, set := range settings {
		if err := s.cfg.Workshop.SetControl(c.UserContext(), set.key, set.value); err != nil {
			return err
		}
	}
	if j != nil {
		return c.Redirect("/rebuild?job="+strconv.Itoa(j.id), http.StatusSeeOther)
	}
	return c.Redirect(back, http.StatusSeeOther)
}

// tourCode adds the code of stage n's step: the files its README lists
// as changed in the step (and dropped), and the diff of each that was
// there in the stage before.
func (s *Server) tourCode(v *web.Tour, n int) {
	if s.cfg.Source == nil {
		return
	}
	pkg := s.cfg.Descriptions[n].Package
	step, err := readStep(s.cfg.Source, pkg)
	if err != nil {
		return
	}
	v.HasCode = true
	prev := ""
	if n > 0 {
		prev = s.cfg.Descriptions[n-1].Package
		v.PrevPackage = prev
	}
	for _, f := range step.changed {
		file := web.TourFile{Path: f.path, Note: f.note}
		p := path.Join(pkg, f.path)
		if st, err := fs.Stat(s.cfg.Source, p); err == nil && !st.IsDir() {
			file.URL = sourceURL(p)
		} else if err == nil && st.IsDir() {
			file.URL = sourceURL(p + "/")
		}
		if prev != "" && strings.HasSuffix(f.path, ".go") && !strings.HasSuffix(f.path, "_test.go") {
			if d, ok := fileDiff(s.cfg.Source, path.Join(prev, f.path), p, f.path); ok {
				v.Diffs = append(v.Diffs, d)
				file.Changed = true
			}
		}
		if !file.Changed && prev != "" {
			file.New = true
		}
		v.Files = append(v.Files, file)
	}
	for _, f := range step.dropped {
		v.Dropped = append(v.Dropped, web.TourFile{Path: f.path, Note: f.note})
	}
	v.Carried = len(step.carried)
	if len(v.Diffs) > 0 {
		v.Diffs[0].Open = true
	}
}

// stepFile is a file a stage's README lists, with what it says of it.
type stepFile struct{ path, note string }

// readmeStep is what a stage's README lists under "Changed in this
// step", "Carried forward" and "Dropped".
type readmeStep struct{ changed, carried, dropped []stepFile }

var readmeItem = regexp.MustCompile("^- `([^`]+)`(?:[^—]*— (.*))?")

func readStep(src fs.FS, pkg string) (readmeStep, error) {
	f, err := src.Open(path.Join(pkg, "README.md"))
	if err != nil {
		return readmeStep{}, err
	}
	defer f.Close()
	var st readmeStep
	var list *[]stepFile
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## Changed"):
			list = &st.changed
		case strings.HasPrefix(line, "## Carried"):
			list = &st.carried
		case strings.HasPrefix(line, "## Dropped"):
			list = &st.dropped
		case strings.HasPrefix(line, "#"):
			list = nil
		case list != nil:
			if m := readmeItem.FindStringSubmatch(line); m != nil {
				*list = append(*list, stepFile{path: m[1], note: strings.TrimSuffix(m[2], ".")})
			}
		}
	}
	return st, sc.Err()
}

// stageSelf matches what names a stage in its own files, the package
// clause and its import paths: not part of the lesson, left out of the
// diff.
var (
	stageClause = regexp.MustCompile(`(?m)^package stage\d+(_test)?$`)
	stageImport = regexp.MustCompile(`/stages/stage\d+\b`)
)

func neutral(s string) string {
	return stageImport.ReplaceAllString(stageClause.ReplaceAllString(s, "package stage$1"), "/stages/stage")
}

// maxDiffLines bounds the lines of one file's diff the page shows.
const maxDiffLines = 600

// fileDiff is the unified diff of a file from the stage before (from) to
// this stage (to); ok is false when the file was not there before or did
// not change.
func fileDiff(src fs.FS, from, to, name string) (web.TourDiff, bool) {
	a, err := fs.ReadFile(src, from)
	if err != nil {
		return web.TourDiff{}, false
	}
	b, err := fs.ReadFile(src, to)
	if err != nil {
		return web.TourDiff{}, false
	}
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(neutral(string(a))), B: difflib.SplitLines(neutral(string(b))),
		FromFile: from, ToFile: to, Context: 3,
	})
	if err != nil || text == "" {
		return web.TourDiff{}, false
	}
	d := web.TourDiff{Path: name, From: from, To: to}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if i < 2 { // the --- and +++ header: the page names the files
			continue
		}
		kind := "ctx"
		switch {
		case strings.HasPrefix(line, "@@"):
			kind = "hunk"
		case strings.HasPrefix(line, "+"):
			kind = "add"
			d.Added++
		case strings.HasPrefix(line, "-"):
			kind = "del"
			d.Removed++
		}
		if len(d.Lines) < maxDiffLines {
			d.Lines = append(d.Lines, web.DiffLine{Kind: kind, Text: line})
		} else {
			d.Cut++
		}
	}
	return d, true
}
