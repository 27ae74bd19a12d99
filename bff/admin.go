package bff

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/web"
)

// errorEntryJSON is an entry in the admin API.
type errorEntryJSON struct {
	ID            int64     `json:"id"`
	Kind          string    `json:"kind"`
	EventID       string    `json:"event_id"`
	OrderID       string    `json:"order_id"`
	OrderVersion  int       `json:"order_version"`
	Type          string    `json:"type"`
	Status        string    `json:"status"`
	Error         string    `json:"error"`
	Attempts      int       `json:"attempts"`
	FirstFailedAt time.Time `json:"first_failed_at"`
	LastFailedAt  time.Time `json:"last_failed_at"`
}

// errorEntryDetailJSON is one entry with its envelope: the JSON itself if
// the envelope is JSON, else its text.
type errorEntryDetailJSON struct {
	errorEntryJSON
	Envelope   any    `json:"envelope"`
	Readable   bool   `json:"readable"`
	Unreadable string `json:"unreadable,omitempty"`
}

type replayRequest struct {
	ID     *int64 `json:"id"`
	All    bool   `json:"all"`
	DryRun bool   `json:"dry_run"`
}

type replayReportJSON struct {
	DryRun  bool             `json:"dry_run"`
	Applied int              `json:"applied"`
	Skipped int              `json:"skipped"`
	Failed  int              `json:"failed"`
	Waiting int              `json:"waiting"`
	Steps   []replayStepJSON `json:"steps"`
}

type replayStepJSON struct {
	EntryID      int64  `json:"entry_id"`
	OrderID      string `json:"order_id"`
	OrderVersion int    `json:"order_version"`
	Type         string `json:"type"`
	Result       string `json:"result"`
	Text         string `json:"text"`
}

func entryJSON(e stageview.ErrorEntry) errorEntryJSON {
	return errorEntryJSON{
		ID: e.ID, Kind: e.Kind, EventID: e.EventID, OrderID: e.OrderID, OrderVersion: e.OrderVersion, Type: e.Type, Status: e.Status,
		Error: e.Error, Attempts: e.Attempts, FirstFailedAt: e.FirstFailedAt.UTC(), LastFailedAt: e.LastFailedAt.UTC(),
	}
}

func reportJSON(r stageview.ReplayReport) replayReportJSON {
	out := replayReportJSON{DryRun: r.DryRun, Applied: r.Applied, Skipped: r.Skipped, Failed: r.Failed, Waiting: r.Waiting,
		Steps: []replayStepJSON{}}
	for _, s := range r.Steps {
		out.Steps = append(out.Steps, replayStepJSON{EntryID: s.EntryID, OrderID: s.OrderID, OrderVersion: s.OrderVersion,
			Type: s.Type, Result: s.Result, Text: s.Text})
	}
	return out
}

// ReplayAll, as the entry of a replay, replays every order in the log.
const ReplayAll = stageview.ReplayAll

// errNoErrorLog answers for the error log when no stage of this server
// has one.
var errNoErrorLog = fiber.NewError(http.StatusNotFound, "this server runs no stage with an error log")

// ErrorLogDiscarder is implemented by an error log whose entries can be
// discarded rather than replayed.
type ErrorLogDiscarder interface {
	// DiscardErrorLog gives up on entry id and reports the replay of what
	// its order held behind it. ENOTFOUND for an unknown entry, ECONFLICT
	// for one that is neither parked nor held.
	DiscardErrorLog(ctx context.Context, id int64) (stageview.ReplayReport, error)
}

// errNoDiscard answers a discard when the error log cannot discard.
var errNoDiscard = fiber.NewError(http.StatusNotFound, "this server's error log cannot discard entries")

// errorLog returns the error log of the stage that has one, if any.
func (s *Server) errorLog() ErrorLog {
	for _, n := range s.cfg.Switch.Numbers() {
		if l, ok := s.cfg.Switch.stages[n].(ErrorLog); ok {
			return l
		}
	}
	return nil
}

// adminAPIRoutes mounts the admin API on the /api group, ahead of the
// per-stage APIs: GET /api/admin/error-log (filter status), GET
// /api/admin/error-log/{id} and POST /api/admin/error-log/replay with
// {"id": n} or {"all": true}, and "dry_run".
func (s *Server) adminAPIRoutes(api fiber.Router) {
	api.Get("/admin/error-log", s.apiErrorLog)
	api.Post("/admin/error-log/replay", s.apiReplay)
	api.Post("/admin/error-log/discard", s.apiDiscard)
	api.Get("/admin/error-log/:id", s.apiErrorEntry)
	api.All("/admin/*", func(c *fiber.Ctx) error {
		return fiber.NewError(http.StatusNotFound, "the admin API has GET /api/admin/error-log, GET /api/admin/error-log/{id}, POST /api/admin/error-log/replay, POST /api/admin/error-log/discard, "+
			"and with --workshop GET /api/admin/workshop, PUT /api/admin/workshop/{control} and POST /api/admin/reset")
	})
}

func (s *Server) apiErrorLog(c *fiber.Ctx) error {
	log := s.errorLog()
	if log == nil {
		return errNoErrorLog
	}
	entries, err := log.ErrorLogEntries(c.UserContext(), c.Query("status"))
	if err != nil {
		return err
	}
	out := make([]errorEntryJSON, 0, len(entries))
	for _, e := range entries {
		out = append(out, entryJSON(e))
	}
	return c.JSON(fiber.Map{"entries": out})
}

func (s *Server) apiErrorEntry(c *fiber.Ctx) error {
	log := s.errorLog()
	if log == nil {
		return errNoErrorLog
	}
	id, err := parseEntryID(c.Params("id"))
	if err != nil {
		return err
	}
	e, err := log.ErrorLogEntry(c.UserContext(), id)
	if err != nil {
		return err
	}
	out := errorEntryDetailJSON{errorEntryJSON: entryJSON(e), Envelope: e.Envelope, Readable: e.Unreadable == "", Unreadable: e.Unreadable}
	if json.Valid([]byte(e.Envelope)) {
		out.Envelope = json.RawMessage(e.Envelope)
	}
	return c.JSON(out)
}

func (s *Server) apiReplay(c *fiber.Ctx) error {
	log := s.errorLog()
	if log == nil {
		return errNoErrorLog
	}
	var req replayRequest
	if err := httpapi.Decode(c.Body(), &req); err != nil {
		return err
	}
	id := ReplayAll
	switch {
	case req.All && req.ID != nil:
		return invalidField("id", `give "id" or "all": true, not both`)
	case req.All:
	case req.ID == nil:
		return invalidField("id", `is required (or "all": true to replay every entry)`)
	case *req.ID <= 0:
		return invalidField("id", "must be an entry ID (a whole number above 0)")
	default:
		id = *req.ID
	}
	report, err := log.ReplayErrorLog(c.UserContext(), id, req.DryRun)
	if err != nil {
		return err
	}
	return c.JSON(reportJSON(report))
}

// apiDiscard discards entry {"id": n}.
func (s *Server) apiDiscard(c *fiber.Ctx) error {
	d, ok := s.errorLog().(ErrorLogDiscarder)
	if !ok {
		return errNoDiscard
	}
	var req replayRequest
	if err := httpapi.Decode(c.Body(), &req); err != nil {
		return err
	}
	switch {
	case req.ID == nil:
		return invalidField("id", "is required")
	case *req.ID <= 0:
		return invalidField("id", "must be an entry ID (a whole number above 0)")
	case req.All || req.DryRun:
		return invalidField("id", "a discard takes one entry, and no dry run")
	}
	report, err := d.DiscardErrorLog(c.UserContext(), *req.ID)
	if err != nil {
		return err
	}
	return c.JSON(reportJSON(report))
}

func invalidField(field, msg string) error {
	return &order.Error{Code: order.EINVALID, Message: "the request is not valid", Fields: []order.FieldError{{Field: field, Message: msg}}}
}

// parseEntryID reads an entry ID from a path; a malformed one is reported
// as not found, since no entry can have it.
func parseEntryID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, order.Errorf(order.ENOTFOUND, "no error log entry has the ID %q", s)
	}
	return id, nil
}

// adminPageRoutes mounts the error log page: the list (filter status), an
// entry's detail, replays posted from either, and the count badge the
// architecture page loads.
//
// The badge, a count, is open to all; the rest is an admin's (auth.go).
func (s *Server) adminPageRoutes(r fiber.Router) {
	r.Get("/admin/error-log/badge", s.errorLogBadge)
	r.Get("/admin/error-log", s.requireAdmin, s.errorLogPage)
	r.Post("/admin/error-log", s.requireAdmin, s.errorLogReplay)
	r.Get("/admin/error-log/:id<int>", s.requireAdmin, s.errorEntryPage)
	r.Post("/admin/error-log/:id<int>", s.requireAdmin, s.errorEntryReplay)
	r.Post("/admin/error-log/:id<int>/discard", s.requireAdmin, s.errorEntryDiscard)
}

// errorLogView builds the list page's view for the status filter status.
func (s *Server) errorLogView(c *fiber.Ctx, log ErrorLog, status string) (web.ErrorLogView, error) {
	all, err := log.ErrorLogEntries(c.UserContext(), "")
	if err != nil {
		return web.ErrorLogView{}, err
	}
	known := status == ""
	for _, k := range stageview.EntryStatuses() {
		known = known || k == status
	}
	vm := web.ErrorLogView{Status: status}
	if !known {
		// A hand-edited URL: show everything, and say why.
		vm.Message = "There is no status " + strconv.Quote(status) + "; showing every entry."
		vm.Status, status = "", ""
	}
	counts := map[string]int{}
	for _, e := range all {
		counts[e.Status]++
		if status == "" || e.Status == status {
			vm.Entries = append(vm.Entries, entryRow(e))
		}
	}
	vm.Parked, vm.Held, vm.Total = counts[stageview.EntryParked], counts[stageview.EntryHeld], len(all)
	vm.Filters = append(vm.Filters, web.ErrorLogFilter{Label: "All", URL: "/admin/error-log", Count: len(all), Current: vm.Status == ""})
	for _, k := range stageview.EntryStatuses() {
		vm.Filters = append(vm.Filters, web.ErrorLogFilter{Label: statusLabel(k), URL: "/admin/error-log?status=" + k,
			Count: counts[k], Current: vm.Status == k})
	}
	return vm, nil
}

func statusLabel(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func entryRow(e stageview.ErrorEntry) web.ErrorLogRow {
	r := web.ErrorLogRow{
		ID: e.ID, URL: "/admin/error-log/" + strconv.FormatInt(e.ID, 10), Status: e.Status, StatusLabel: e.Status,
		EventID: e.EventID, OrderID: e.OrderID, OrderShort: e.OrderID, Version: e.OrderVersion, Type: e.Type,
		Error: e.Error, Attempts: e.Attempts, FirstFailed: when(e.FirstFailedAt), LastFailed: when(e.LastFailedAt),
		Pending: e.Status == stageview.EntryParked || e.Status == stageview.EntryHeld,
		Command: e.Kind == stageview.EntryCommand,
	}
	if id, err := httpapi.ParseIDParam(e.OrderID); err == nil {
		r.OrderShort, r.OrderURL = shortID(id), orderURL(id)
	}
	return r
}

func reportView(r stageview.ReplayReport) *web.ReplayReportView {
	v := &web.ReplayReportView{DryRun: r.DryRun}
	var parts []string
	add := func(n int, dry, done string) {
		if n > 0 {
			if r.DryRun {
				parts = append(parts, fmt.Sprintf("%d %s", n, dry))
			} else {
				parts = append(parts, fmt.Sprintf("%d %s", n, done))
			}
		}
	}
	add(r.Applied, "would apply", "applied")
	add(r.Skipped, "would be skipped (already applied)", "skipped (already applied)")
	add(r.Failed, "would still fail", "still failing")
	add(r.Waiting, "would stay held", "still held")
	if len(parts) == 0 {
		v.Summary = "Nothing to replay."
	} else if r.DryRun {
		v.Summary = "Dry run, nothing changed: " + strings.Join(parts, ", ") + "."
	} else {
		v.Summary = "Replayed: " + strings.Join(parts, ", ") + "."
	}
	v.OK = r.Failed == 0 && r.Waiting == 0
	for _, st := range r.Steps {
		v.Steps = append(v.Steps, web.ReplayStepView{
			EntryID: st.EntryID, EntryURL: "/admin/error-log/" + strconv.FormatInt(st.EntryID, 10), Result: st.Result, Text: st.Text,
		})
	}
	return v
}

func (s *Server) errorLogPage(c *fiber.Ctx) error {
	log := s.errorLog()
	if log == nil {
		return errNoErrorLog
	}
	vm, err := s.errorLogView(c, log, c.Query("status"))
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, web.ErrorLogPage(s.chrome(c, "Error log", "architecture"), vm))
}

// errorLogReplay replays one entry's order (form field id) or everything
// (all=1), dry or not (dry_run=1), and shows the list with the report.
func (s *Server) errorLogReplay(c *fiber.Ctx) error {
	log := s.errorLog()
	if log == nil {
		return errNoErrorLog
	}
	id := ReplayAll
	msg := ""
	if c.FormValue("all") == "" {
		n, err := strconv.ParseInt(c.FormValue("id"), 10, 64)
		if err != nil || n <= 0 {
			msg = "Choose an entry to replay, or replay all."
		}
		id = n
	}
	var report *web.ReplayReportView
	status := http.StatusOK
	if msg == "" {
		r, err := log.ReplayErrorLog(c.UserContext(), id, c.FormValue("dry_run") != "")
		switch order.ErrorCode(err) {
		case "":
			report = reportView(r)
		case order.ENOTFOUND:
			// 422 rather than 404, so that htmx swaps the page in and the
			// message shows.
			msg, status = "There is no error log entry "+strconv.FormatInt(id, 10)+"; here is the log as it is now.", http.StatusUnprocessableEntity
		default:
			return err
		}
	} else {
		status = http.StatusUnprocessableEntity
	}
	vm, err := s.errorLogView(c, log, c.FormValue("status"))
	if err != nil {
		return err
	}
	vm.Report, vm.Message = report, msg
	c.Set("HX-Push-Url", "false")
	return s.render(c, status, web.ErrorLogPage(s.chrome(c, "Error log", "architecture"), vm))
}

func (s *Server) errorEntryView(c *fiber.Ctx, log ErrorLog) (web.ErrorEntryView, error) {
	id, err := parseEntryID(c.Params("id"))
	if err != nil {
		return web.ErrorEntryView{}, err
	}
	e, err := log.ErrorLogEntry(c.UserContext(), id)
	if err != nil {
		return web.ErrorEntryView{}, err
	}
	return web.ErrorEntryView{Row: entryRow(e), Envelope: prettyEnvelope(e.Envelope), Unreadable: e.Unreadable}, nil
}

func (s *Server) errorEntryPage(c *fiber.Ctx) error {
	log := s.errorLog()
	if log == nil {
		return errNoErrorLog
	}
	v, err := s.errorEntryView(c, log)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, web.ErrorEntryPage(s.chrome(c, "Error log entry "+strconv.FormatInt(v.Row.ID, 10), "architecture"), v))
}

// errorEntryReplay replays the entry's order (dry_run=1 for a dry run) and
// shows the entry as it is afterwards, with the report.
func (s *Server) errorEntryReplay(c *fiber.Ctx) error {
	log := s.errorLog()
	if log == nil {
		return errNoErrorLog
	}
	id, err := parseEntryID(c.Params("id"))
	if err != nil {
		return err
	}
	r, err := log.ReplayErrorLog(c.UserContext(), id, c.FormValue("dry_run") != "")
	if err != nil {
		return err
	}
	v, err := s.errorEntryView(c, log)
	if err != nil {
		return err
	}
	v.Report = reportView(r)
	c.Set("HX-Push-Url", "false")
	return s.render(c, http.StatusOK, web.ErrorEntryPage(s.chrome(c, "Error log entry "+strconv.FormatInt(v.Row.ID, 10), "architecture"), v))
}

// errorEntryDiscard discards the entry and shows it as it is afterwards,
// with the report of what its order replayed.
func (s *Server) errorEntryDiscard(c *fiber.Ctx) error {
	log := s.errorLog()
	d, ok := log.(ErrorLogDiscarder)
	if !ok {
		return errNoDiscard
	}
	id, err := parseEntryID(c.Params("id"))
	if err != nil {
		return err
	}
	r, err := d.DiscardErrorLog(c.UserContext(), id)
	if err != nil {
		return err
	}
	v, err := s.errorEntryView(c, log)
	if err != nil {
		return err
	}
	v.Report = reportView(r)
	v.Report.Summary = "Discarded. " + v.Report.Summary
	c.Set("HX-Push-Url", "false")
	return s.render(c, http.StatusOK, web.ErrorEntryPage(s.chrome(c, "Error log entry "+strconv.FormatInt(v.Row.ID, 10), "architecture"), v))
}

// errorLogBadge is the count of parked entries, for the architecture page's
// link; empty when there are none (or no error log).
func (s *Server) errorLogBadge(c *fiber.Ctx) error {
	n := 0
	if log := s.errorLog(); log != nil {
		parked, err := log.ErrorLogEntries(c.UserContext(), stageview.EntryParked)
		if err != nil {
			return err
		}
		n = len(parked)
	}
	return s.render(c, http.StatusOK, web.ErrorLogBadge(n))
}

// prettyEnvelope indents an envelope that is JSON; anything else is shown
// as it is.
func prettyEnvelope(env string) string {
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(env), "", "  "); err != nil {
		return env
	}
	return b.String()
}
