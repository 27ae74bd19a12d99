package bff

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/web"
)

// The event viewer and the event catalog: the active stage's change log
// (EventLog), newest first, and every event type with its schema versions.
// Both are pages and JSON for scripts:
//
//	GET /events, GET /api/events ?order=<id>&type=<type>&before=<seq>&limit=<n>
//	GET /events/catalog, GET /api/events/catalog
//
// They read only: open like the orders pages, and under the JSON APIs'
// read scope when API tokens are set.

func (s *Server) eventRoutes(r fiber.Router) {
	r.Get("/events", s.eventsPage)
	r.Get("/events/catalog", s.catalogPage)
}

func (s *Server) eventAPIRoutes(api fiber.Router) {
	api.Get("/events", s.apiEvents)
	api.Get("/events/catalog", s.apiCatalog)
}

// eventLogStage returns the number of the stage with a change log, -1 if
// none; the catalog is any such stage's.
func (s *Server) eventLogStage() (int, EventLog) {
	for _, n := range s.cfg.Switch.Numbers() {
		if l, ok := s.cfg.Switch.stages[n].(EventLog); ok {
			return n, l
		}
	}
	return -1, nil
}

// eventQuery reads the viewer's query string; a number that is not one is
// a field error.
func eventQuery(c *fiber.Ctx) (stageview.EventQuery, []order.FieldError) {
	q := stageview.EventQuery{OrderID: strings.TrimSpace(c.Query("order")), Type: strings.TrimSpace(c.Query("type"))}
	var fields []order.FieldError
	if v := c.Query("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			fields = append(fields, order.FieldError{Field: "before", Message: "must be a sequence number of the change log, 1 or more"})
		}
		q.Before = n
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fields = append(fields, order.FieldError{Field: "limit", Message: "must be a whole number, 1 or more"})
		}
		q.Limit = n
	}
	return q, fields
}

// events asks the active stage for a page of its change log; errNoLog when
// it keeps none.
func (s *Server) events(c *fiber.Ctx) (int, stageview.EventPage, error) {
	n, st := s.stage(c)
	l, ok := st.(EventLog)
	if !ok {
		k, _ := s.eventLogStage()
		return n, stageview.EventPage{}, errNoLog(n, k)
	}
	q, fields := eventQuery(c)
	if len(fields) > 0 {
		return n, stageview.EventPage{}, &order.Error{Code: order.EINVALID, Message: "the event query is not valid", Fields: fields}
	}
	page, err := l.Events(c.UserContext(), q)
	return n, page, err
}

// errNoLog answers for the events of stage n, which keeps no change log;
// k is the stage that keeps one (-1: none).
func errNoLog(n, k int) error {
	msg := "stage " + strconv.Itoa(n) + " writes no change log, so it has no events"
	if k >= 0 {
		msg += ": switch to stage " + strconv.Itoa(k) + ` (PUT /api/admin/stage {"stage": ` + strconv.Itoa(k) + `})`
	}
	return fiber.NewError(http.StatusNotFound, msg)
}

// eventsURL is the viewer's URL for a query, under base ("/events" or
// "/api/events").
func eventsURL(base string, q stageview.EventQuery) string {
	v := url.Values{}
	if q.OrderID != "" {
		v.Set("order", q.OrderID)
	}
	if q.Type != "" {
		v.Set("type", q.Type)
	}
	if q.Before > 0 {
		v.Set("before", strconv.FormatInt(q.Before, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if len(v) == 0 {
		return base
	}
	return base + "?" + v.Encode()
}

func (s *Server) eventsPage(c *fiber.Ctx) error {
	n, st := s.stage(c)
	q, _ := eventQuery(c)
	v := web.EventsView{Stage: n, CSRFToken: tokenOf(c), OrderID: q.OrderID, Type: q.Type, CatalogURL: "/events/catalog",
		Types: []web.Option{{Value: "", Label: "All types", Selected: q.Type == ""}}}
	for _, t := range order.EventTypes() {
		v.Types = append(v.Types, web.Option{Value: t, Label: t, Selected: t == q.Type})
	}
	if _, ok := st.(EventLog); !ok {
		v.LogStage, _ = s.eventLogStage()
		return s.render(c, http.StatusOK, web.EventsPage(s.chrome(c, "Events", "events"), v))
	}
	v.HasLog = true
	status := http.StatusOK
	_, page, err := s.events(c)
	if order.ErrorCode(err) == order.EINVALID {
		// The filters with why beside them, and the log's state without
		// a list.
		status, v.Errors = http.StatusUnprocessableEntity, map[string]string{}
		for _, f := range order.FieldErrors(err) {
			switch f.Field {
			case "order", "type":
				v.Errors[f.Field] = f.Message
			default:
				// The page's own parameters, which no field shows.
				v.Errors["before"] = strings.TrimSpace(v.Errors["before"] + " " + f.Field + " " + f.Message + ".")
			}
		}
		page, err = st.(EventLog).Events(c.UserContext(), stageview.EventQuery{Limit: 1})
		page.Events, page.Next = nil, 0
	}
	if err != nil {
		return err
	}
	v.APIURL = eventsURL("/api/events", stageview.EventQuery{OrderID: q.OrderID, Type: q.Type})
	v.State = eventStateView(page.State)
	now := time.Now()
	for _, e := range page.Events {
		v.Events = append(v.Events, eventItem(e, now))
	}
	if page.Next > 0 {
		v.NextURL = eventsURL("/events", stageview.EventQuery{OrderID: q.OrderID, Type: q.Type, Before: page.Next, Limit: q.Limit})
	}
	if q.Before > 0 {
		v.FirstURL = eventsURL("/events", stageview.EventQuery{OrderID: q.OrderID, Type: q.Type, Limit: q.Limit})
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.render(c, status, web.EventsPage(s.chrome(c, "Events", "events"), v))
}

var projectionText = map[string]string{
	stageview.EventProjected: "projected",
	stageview.EventPending:   "not yet projected",
	stageview.EventParked:    "parked in the error log",
	stageview.EventHeld:      "held behind a parked event",
}

func eventItem(e stageview.EventRow, now time.Time) web.EventItem {
	id, _ := order.ParseID(e.OrderID)
	filter := eventsURL("/events", stageview.EventQuery{OrderID: e.OrderID})
	it := web.EventItem{
		Seq: strconv.FormatInt(e.Seq, 10), EventID: e.EventID, Type: e.Type,
		OrderID: e.OrderID, OrderShort: shortID(id), OrderURL: orderURL(id), FilterURL: filter, Version: e.OrderVersion,
		Schema: e.Schema, Current: e.Current, Stored: indentJSON(e.Stored), Upcast: indentJSON(e.Upcast), Unreadable: e.Unreadable,
		Time: e.OccurredAt.UTC().Format("2006-01-02 15:04:05.000"), Ago: formatAgo(now.Sub(e.OccurredAt)),
		Published: e.Published, Projection: e.Projection, ProjectionText: projectionText[e.Projection],
	}
	if e.Projection == stageview.EventProjected && e.ReadVersion > e.OrderVersion {
		it.ProjectionText = "projected (read side at v" + strconv.Itoa(e.ReadVersion) + ")"
	}
	if e.Current == 0 {
		it.Current = e.Schema
	}
	return it
}

// indentJSON lays JSON out on lines, keeping its text as it is (no HTML
// escapes: the template escapes it); anything else is left alone.
func indentJSON(s string) string {
	var b bytes.Buffer
	if s == "" || json.Indent(&b, []byte(s), "", "  ") != nil {
		return s
	}
	return b.String()
}

func count64(n uint64) string { return stageview.FormatCount(float64(n)) }

func eventStateView(st stageview.EventLogState) web.EventLogStateView {
	v := web.EventLogStateView{
		Head:          strconv.FormatInt(st.Head, 10),
		RelayPosition: "seq " + strconv.FormatInt(st.RelaySeq, 10), Unpublished: stageview.FormatCount(float64(st.Unpublished)),
		Behind: st.Unpublished > 0,
	}
	if st.RelayTx > 0 {
		v.RelayPosition += " · transaction " + strconv.FormatInt(st.RelayTx, 10)
	}
	for _, bs := range st.Streams {
		sv := web.BusStreamView{Name: bs.Name, Topic: bs.Topic, Err: bs.Err, Messages: count64(bs.Messages), Bytes: count64(bs.Bytes),
			FirstSeq: strconv.FormatUint(bs.FirstSeq, 10), LastSeq: strconv.FormatUint(bs.LastSeq, 10)}
		for _, bc := range bs.Consumers {
			sv.Consumers = append(sv.Consumers, web.BusConsumerView{
				Name: bc.Name, Err: bc.Err, Delivered: strconv.FormatUint(bc.Delivered, 10), AckFloor: strconv.FormatUint(bc.AckFloor, 10),
				Pending: count64(bc.Pending), AckPending: stageview.FormatCount(float64(bc.AckPending)),
				Redelivered: stageview.FormatCount(float64(bc.Redelivered)), Waiting: bc.Pending > 0 || bc.AckPending > 0,
			})
		}
		v.Streams = append(v.Streams, sv)
	}
	return v
}

func (s *Server) catalogPage(c *fiber.Ctx) error {
	_, l := s.eventLogStage()
	if l == nil {
		return fiber.NewError(http.StatusNotFound, "This server runs no stage that records events.")
	}
	cat := l.EventCatalog()
	v := web.EventCatalogView{APIURL: "/api/events/catalog"}
	field := func(f stageview.CatalogField) web.CatalogFieldView {
		return web.CatalogFieldView{Name: f.Name, Type: f.Type, Meaning: f.Meaning}
	}
	for _, f := range cat.Envelope {
		v.Envelope = append(v.Envelope, field(f))
	}
	for _, t := range cat.Types {
		tv := web.CatalogTypeView{Name: t.Name, Meaning: t.Meaning, Anchor: "event-" + t.Name, Current: t.Current,
			EventsURL: eventsURL("/events", stageview.EventQuery{Type: t.Name})}
		for _, sc := range t.Schemas {
			sv := web.CatalogSchemaView{Version: sc.Version, Current: sc.Version == t.Current, Example: sc.Example, Upcast: sc.Upcast, UpcastNote: sc.UpcastNote}
			for _, f := range sc.Fields {
				sv.Fields = append(sv.Fields, field(f))
			}
			tv.Schemas = append(tv.Schemas, sv)
		}
		v.Types = append(v.Types, tv)
	}
	return s.render(c, http.StatusOK, web.EventCatalogPage(s.chrome(c, "Event catalog", "events"), v))
}

// The JSON of the event viewer.
type (
	eventJSON struct {
		Seq           int64           `json:"seq"`
		EventID       string          `json:"event_id"`
		OrderID       string          `json:"order_id"`
		OrderVersion  int             `json:"order_version"`
		Type          string          `json:"type"`
		SchemaVersion int             `json:"schema_version"`
		CurrentSchema int             `json:"current_schema_version"`
		OccurredAt    time.Time       `json:"occurred_at"`
		Payload       json.RawMessage `json:"payload"`
		Upcast        json.RawMessage `json:"upcast_payload,omitempty"`
		Unreadable    string          `json:"unreadable,omitempty"`
		Published     bool            `json:"published"`
		Projection    string          `json:"projection"`
		ReadVersion   int             `json:"read_version"`
	}
	eventsJSON struct {
		Stage     int           `json:"stage"`
		Events    []eventJSON   `json:"events"`
		Next      string        `json:"next,omitempty"`
		ChangeLog changeLogJSON `json:"change_log"`
		Bus       []streamJSON  `json:"bus"`
	}
	changeLogJSON struct {
		Head        int64 `json:"head"`
		RelaySeq    int64 `json:"relay_seq"`
		RelayTx     int64 `json:"relay_tx,omitempty"`
		Unpublished int64 `json:"unpublished"`
	}
	streamJSON struct {
		Name      string         `json:"name"`
		Topic     string         `json:"topic"`
		Error     string         `json:"error,omitempty"`
		Messages  uint64         `json:"messages"`
		Bytes     uint64         `json:"bytes"`
		FirstSeq  uint64         `json:"first_seq"`
		LastSeq   uint64         `json:"last_seq"`
		Consumers []consumerJSON `json:"consumers"`
	}
	consumerJSON struct {
		Name        string `json:"name"`
		Error       string `json:"error,omitempty"`
		Delivered   uint64 `json:"delivered"`
		AckFloor    uint64 `json:"ack_floor"`
		Pending     uint64 `json:"pending"`
		AckPending  int    `json:"ack_pending"`
		Redelivered int    `json:"redelivered"`
	}
)

// rawJSON is s as JSON: itself when it is JSON, else a JSON string.
func rawJSON(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s)
	return b
}

func (s *Server) apiEvents(c *fiber.Ctx) error {
	n, page, err := s.events(c)
	if err != nil {
		return err
	}
	q, _ := eventQuery(c)
	out := eventsJSON{Stage: n, Events: []eventJSON{}, Bus: []streamJSON{}, ChangeLog: changeLogJSON{
		Head: page.State.Head, RelaySeq: page.State.RelaySeq, RelayTx: page.State.RelayTx, Unpublished: page.State.Unpublished,
	}}
	for _, e := range page.Events {
		out.Events = append(out.Events, eventJSON{
			Seq: e.Seq, EventID: e.EventID, OrderID: e.OrderID, OrderVersion: e.OrderVersion, Type: e.Type,
			SchemaVersion: e.Schema, CurrentSchema: e.Current, OccurredAt: e.OccurredAt.UTC(),
			Payload: rawJSON(e.Stored), Upcast: rawJSON(e.Upcast), Unreadable: e.Unreadable,
			Published: e.Published, Projection: e.Projection, ReadVersion: e.ReadVersion,
		})
	}
	if page.Next > 0 {
		out.Next = eventsURL("/api/events", stageview.EventQuery{OrderID: q.OrderID, Type: q.Type, Before: page.Next, Limit: q.Limit})
	}
	for _, bs := range page.State.Streams {
		sj := streamJSON{Name: bs.Name, Topic: bs.Topic, Error: bs.Err, Messages: bs.Messages, Bytes: bs.Bytes, FirstSeq: bs.FirstSeq, LastSeq: bs.LastSeq,
			Consumers: []consumerJSON{}}
		for _, bc := range bs.Consumers {
			sj.Consumers = append(sj.Consumers, consumerJSON{Name: bc.Name, Error: bc.Err, Delivered: bc.Delivered, AckFloor: bc.AckFloor,
				Pending: bc.Pending, AckPending: bc.AckPending, Redelivered: bc.Redelivered})
		}
		out.Bus = append(out.Bus, sj)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(out)
}

type (
	catalogJSON struct {
		Envelope []catalogFieldJSON `json:"envelope"`
		Types    []catalogTypeJSON  `json:"types"`
	}
	catalogTypeJSON struct {
		Name          string              `json:"name"`
		Meaning       string              `json:"meaning"`
		CurrentSchema int                 `json:"current_schema_version"`
		Schemas       []catalogSchemaJSON `json:"schemas"`
	}
	catalogSchemaJSON struct {
		Version    int                `json:"version"`
		Fields     []catalogFieldJSON `json:"fields"`
		Example    json.RawMessage    `json:"example"`
		Upcast     json.RawMessage    `json:"upcast,omitempty"`
		UpcastNote string             `json:"upcast_note,omitempty"`
	}
	catalogFieldJSON struct {
		Name    string `json:"name"`
		Type    string `json:"type"`
		Meaning string `json:"meaning"`
	}
)

func (s *Server) apiCatalog(c *fiber.Ctx) error {
	_, l := s.eventLogStage()
	if l == nil {
		return fiber.NewError(http.StatusNotFound, "this server runs no stage that records events")
	}
	cat := l.EventCatalog()
	fields := func(fs []stageview.CatalogField) []catalogFieldJSON {
		out := []catalogFieldJSON{}
		for _, f := range fs {
			out = append(out, catalogFieldJSON{Name: f.Name, Type: f.Type, Meaning: f.Meaning})
		}
		return out
	}
	out := catalogJSON{Envelope: fields(cat.Envelope), Types: []catalogTypeJSON{}}
	for _, t := range cat.Types {
		tj := catalogTypeJSON{Name: t.Name, Meaning: t.Meaning, CurrentSchema: t.Current, Schemas: []catalogSchemaJSON{}}
		for _, sc := range t.Schemas {
			tj.Schemas = append(tj.Schemas, catalogSchemaJSON{Version: sc.Version, Fields: fields(sc.Fields), Example: rawJSON(sc.Example),
				Upcast: rawJSON(sc.Upcast), UpcastNote: sc.UpcastNote})
		}
		out.Types = append(out.Types, tj)
	}
	return c.JSON(out)
}
