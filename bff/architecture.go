package bff

import (
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/web"
)

// maxSourceSize bounds the size of a source file the architecture page shows.
const maxSourceSize = 1 << 20

// architecturePage shows the active stage's diagram, or with ?stage=N a preview of stage N's.
func (s *Server) architecturePage(c *fiber.Ctx) error {
	active, _ := s.stage(c)
	n, err := s.shownStage(c, active)
	if err != nil {
		return err
	}
	a := s.architecture(n, active)
	s.rebuildPanel(c, &a)
	s.workshopPanel(c, &a)
	a.Live = s.livePanel(c.UserContext(), n, active, nil)
	a.Processes = s.processesPanel(c.UserContext(), n == active)
	if n == active {
		_, st := s.stage(c)
		for _, comp := range s.readiness(c.UserContext(), st).Components {
			if comp.State != stageview.Up {
				a.Health = append(a.Health, web.HealthNote{Name: comp.Name, State: string(comp.State), Reason: comp.Reason})
			}
		}
	}
	title := "Architecture"
	if n != active {
		title = "Architecture · stage " + strconv.Itoa(n) + " preview"
	}
	return s.render(c, http.StatusOK, web.ArchitecturePage(s.chrome(c, title, "architecture"), a))
}

// shownStage is the stage whose diagram a page shows: ?stage=N, or the
// active one.
func (s *Server) shownStage(c *fiber.Ctx, active int) (int, error) {
	q := c.Query("stage")
	if q == "" {
		return active, nil
	}
	k, err := strconv.Atoi(q)
	if last := len(s.cfg.Descriptions) - 1; err != nil || k < 0 || k > last {
		return 0, fiber.NewError(http.StatusNotFound, "There is no stage "+strconv.Quote(q)+"; the stages are 0 to "+strconv.Itoa(last)+".")
	}
	return k, nil
}

// architecture builds the page's view model for stage n while stage active runs.
func (s *Server) architecture(n, active int) web.Architecture {
	info := s.cfg.Descriptions[n]
	available := map[int]bool{}
	for _, k := range s.cfg.Switch.Numbers() {
		available[k] = true
	}
	a := web.Architecture{
		Stage: n, Active: active, Name: info.Name, Changed: info.Changed, Package: info.Package,
		Available: available[n], Diagram: diagramView(info), ErrorLog: info.Has(stageview.ErrorLog),
	}
	if s.cfg.Source != nil {
		if st, err := fs.Stat(s.cfg.Source, info.Package); err == nil && st.IsDir() {
			a.PackageURL = sourceURL(info.Package + "/")
		}
	}
	for _, in := range s.cfg.Descriptions {
		u := "/architecture?stage=" + strconv.Itoa(in.Number)
		if in.Number == active {
			u = "/architecture"
		}
		a.Tabs = append(a.Tabs, web.ArchitectureTab{
			Number: in.Number, Label: in.Name, URL: u,
			Current: in.Number == n, Active: in.Number == active, Available: available[in.Number],
		})
	}
	return a
}

func sourceURL(p string) string {
	return "/architecture/source?path=" + url.QueryEscape(p)
}

// sourcePage lists a stage package's Go files, or shows one file. The path
// must be a clean relative path under stages/ that exists in Config.Source.
func (s *Server) sourcePage(c *fiber.Ctx) error {
	if s.cfg.Source == nil {
		return fiber.ErrNotFound
	}
	p, ok := cleanSourcePath(c.Query("path"))
	if !ok {
		return fiber.ErrNotFound
	}
	st, err := fs.Stat(s.cfg.Source, p)
	if err != nil {
		return fiber.ErrNotFound
	}
	if strings.HasSuffix(c.Query("path"), "/") && !st.IsDir() {
		return fiber.ErrNotFound
	}
	stage := s.stageOfPath(p)
	if st.IsDir() {
		d := web.SourceDir{Path: p, Stage: stage}
		err := fs.WalkDir(s.cfg.Source, p, func(f string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.Type().IsRegular() && strings.HasSuffix(f, ".go") && !strings.HasSuffix(f, "_test.go") {
				d.Files = append(d.Files, web.SourceLink{Path: strings.TrimPrefix(f, p+"/"), URL: sourceURL(f)})
			}
			return nil
		})
		if err != nil {
			return err
		}
		sort.Slice(d.Files, func(i, j int) bool { return d.Files[i].Path < d.Files[j].Path })
		return s.render(c, http.StatusOK, web.SourceDirPage(s.chrome(c, p, "architecture"), d))
	}
	if !st.Mode().IsRegular() || st.Size() > maxSourceSize {
		return fiber.ErrNotFound
	}
	b, err := fs.ReadFile(s.cfg.Source, p)
	if err != nil {
		return fiber.ErrNotFound
	}
	dir := path.Dir(p)
	if stage >= 0 {
		// Link the stage's package, not a sub-package, so one click lists it all.
		dir = s.cfg.Descriptions[stage].Package
	}
	f := web.SourceFile{Path: p, Dir: dir, DirURL: sourceURL(dir + "/"), Stage: stage, Content: string(b)}
	return s.render(c, http.StatusOK, web.SourceFilePage(s.chrome(c, path.Base(p), "architecture"), f))
}

// cleanSourcePath checks a path asked for by the source page: relative,
// clean (a trailing slash is allowed), under stages/ and without "..".
func cleanSourcePath(p string) (string, bool) {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || strings.Contains(p, "\x00") {
		return "", false
	}
	for _, part := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
		if part == ".." {
			return "", false
		}
	}
	clean := path.Clean(p)
	if clean != strings.TrimSuffix(p, "/") || !fs.ValidPath(clean) || !strings.HasPrefix(clean, "stages/") {
		return "", false
	}
	return clean, true
}

// stageOfPath returns the stage whose package holds p, or -1.
func (s *Server) stageOfPath(p string) int {
	for _, in := range s.cfg.Descriptions {
		if p == in.Package || strings.HasPrefix(p, in.Package+"/") {
			return in.Number
		}
	}
	return -1
}

// diagramView is the drawing of stage d as the page draws it.
func diagramView(d stageview.Description) web.Diagram {
	v := web.Diagram{
		Stage: d.Number, Width: d.Diagram.Width, Height: d.Diagram.Height,
		Title: "Stage " + strconv.Itoa(d.Number) + " · " + d.Name + ": architecture", Desc: d.Diagram.Desc,
	}
	for _, b := range d.Diagram.Boxes {
		box := web.DiagramBox{Component: b.Component, Kind: b.Kind, X: b.X, Y: b.Y, W: b.W, H: b.H, Dashed: b.Dashed, Flow: strings.Join(b.Flows, " ")}
		for _, t := range b.Text {
			box.Text = append(box.Text, web.DiagramText{X: t.X, Y: t.Y, Text: t.Text})
		}
		v.Boxes = append(v.Boxes, box)
	}
	for _, a := range d.Diagram.Arrows {
		arrow := web.DiagramArrow{Kind: a.Kind, Dashed: a.Dashed, Flow: strings.Join(a.Flows, " "), Label: a.Label,
			LabelX: a.LabelX, LabelY: a.LabelY, LabelAnchor: a.LabelAnchor}
		for _, p := range a.Points {
			arrow.Points = append(arrow.Points, web.DiagramPoint{X: p.X, Y: p.Y})
		}
		v.Arrows = append(v.Arrows, arrow)
	}
	return v
}
