package stage3

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// The event viewer: the change log as people look at it, each event with
// where it is on its way — published by the relay or not, on the read side
// or not, parked — and the state of the log's readers and of the bus.
// It reads what the relay, the projector and the bus keep anyway; nothing
// in the core step knows it is looked at.

// Event pages hold DefaultEventPage events unless asked otherwise, at most
// MaxEventPage.
const (
	DefaultEventPage = 50
	MaxEventPage     = 200
)

// Events returns one page of the change log, newest first, with where each
// event is and the state of the relay and the bus. A query with an order
// ID that is no UUID, an unknown event type or a bad page size is EINVALID.
func (s *Stage) Events(ctx context.Context, q stageview.EventQuery) (stageview.EventPage, error) {
	f, err := eventFilter(q)
	if err != nil {
		return stageview.EventPage{}, err
	}
	// One more than the page, to tell whether an older page follows.
	want := f.Limit
	f.Limit++
	listed, err := changelog.List(ctx, s.cfg.Write, f)
	if err != nil {
		return stageview.EventPage{}, err
	}
	var page stageview.EventPage
	if len(listed) > want {
		listed = listed[:want]
		page.Next = listed[want-1].Seq
	}
	if page.State, err = s.eventLogState(ctx); err != nil {
		return stageview.EventPage{}, err
	}
	relayed := changelog.Position{TxID: page.State.RelayTx, Seq: page.State.RelaySeq}
	ids, eventIDs := make([]order.ID, 0, len(listed)), make([]string, 0, len(listed))
	for _, l := range listed {
		ids, eventIDs = append(ids, l.Event.OrderID), append(eventIDs, l.Event.ID.String())
	}
	have, parked := map[order.ID]int{}, map[string]string{}
	if len(listed) > 0 {
		if have, err = readVersions(ctx, s.cfg.Read, "", ids); err != nil {
			return stageview.EventPage{}, err
		}
		if parked, err = errorLogStatuses(ctx, s.cfg.Read, eventIDs); err != nil {
			return stageview.EventPage{}, err
		}
	}
	for _, l := range listed {
		page.Events = append(page.Events, eventRow(l, !l.Position.After(relayed), have[l.Event.OrderID], parked[l.Event.ID.String()]))
	}
	return page, nil
}

// eventFilter checks q and turns it into the change log's filter.
func eventFilter(q stageview.EventQuery) (changelog.Filter, error) {
	f := changelog.Filter{Type: q.Type, Before: q.Before, Limit: q.Limit}
	var fields []order.FieldError
	if q.OrderID != "" {
		id, err := uuid.Parse(q.OrderID)
		if err != nil {
			fields = append(fields, order.FieldError{Field: "order", Message: "must be an order ID (a UUID)"})
		}
		f.OrderID = id
	}
	if q.Type != "" && !slices.Contains(order.EventTypes(), q.Type) {
		fields = append(fields, order.FieldError{Field: "type", Message: fmt.Sprintf("must be one of the event types %v", order.EventTypes())})
	}
	if q.Before < 0 {
		fields = append(fields, order.FieldError{Field: "before", Message: "must be a sequence number of the change log, 1 or more"})
	}
	switch {
	case q.Limit == 0:
		f.Limit = DefaultEventPage
	case q.Limit < 0 || q.Limit > MaxEventPage:
		fields = append(fields, order.FieldError{Field: "limit", Message: fmt.Sprintf("must be from 1 to %d", MaxEventPage)})
	}
	if len(fields) > 0 {
		return changelog.Filter{}, &order.Error{Code: order.EINVALID, Message: "the event query is not valid", Fields: fields}
	}
	return f, nil
}

// eventRow is a listed entry as the viewer shows it; relayed tells whether
// the relay published it, readVersion is the read side's version of its
// order and status its error log status, if any.
func eventRow(l changelog.Listed, relayed bool, readVersion int, status string) stageview.EventRow {
	e := l.Event
	r := stageview.EventRow{
		Seq: l.Seq, EventID: e.ID.String(), OrderID: e.OrderID.String(), OrderVersion: e.OrderVersion, Type: e.Type,
		Schema: e.SchemaVersion, Current: order.CurrentSchema(e.Type), OccurredAt: e.OccurredAt,
		Stored: l.Payload, Published: relayed, ReadVersion: readVersion,
	}
	if l.Err != nil {
		r.Unreadable = l.Err.Error()
	} else if e.Payload != nil && e.SchemaVersion != e.Payload.SchemaVersion() {
		if b, err := json.Marshal(e.Payload); err == nil {
			r.Upcast = string(b)
		}
	}
	switch {
	case readVersion >= e.OrderVersion:
		r.Projection = stageview.EventProjected
	case status == projection.StatusParked:
		r.Projection = stageview.EventParked
	case status == projection.StatusHeld:
		r.Projection = stageview.EventHeld
	default:
		r.Projection = stageview.EventPending
	}
	return r
}

// errorLogStatuses returns the error log status of each of the events it
// holds, by event ID.
func errorLogStatuses(ctx context.Context, read bun.IDB, eventIDs []string) (map[string]string, error) {
	var rows []struct {
		EventID string `bun:"event_id"`
		Status  string `bun:"status"`
	}
	if err := read.NewSelect().Model((*projection.ErrorEntry)(nil)).ColumnExpr("CAST(el.event_id AS TEXT) AS event_id, el.status").
		Where("el.kind = ?", projection.KindEvent).Where("el.event_id IN (?)", bun.In(eventIDs)).Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("read the error log: %w", err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.EventID] = r.Status
	}
	return out, nil
}

// eventLogState reads where the change log and its readers are: its head,
// the relay's position and the bus's streams.
func (s *Stage) eventLogState(ctx context.Context) (stageview.EventLogState, error) {
	var st stageview.EventLogState
	var err error
	if st.Head, err = changelog.Head(ctx, s.cfg.Write); err != nil {
		return st, err
	}
	pos, err := changelog.LoadPosition(ctx, s.cfg.Write, s.relay.name)
	if err != nil {
		return st, err
	}
	st.RelaySeq, st.RelayTx = pos.Seq, pos.TxID
	n, _, err := s.unpublished(ctx)
	if err != nil {
		return st, err
	}
	st.Unpublished = int64(n)
	st.Streams = s.busStreams(ctx)
	return st, nil
}

// busStreams asks the bus for the state of the stage's streams and of
// their durable consumers, within a short timeout; what it does not answer
// carries the error.
func (s *Stage) busStreams(ctx context.Context) []stageview.BusStream {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var out []stageview.BusStream
	js, jsErr := jetstream.New(s.cfg.NATS)
	for _, topic := range []string{s.topics.events, s.topics.commands} {
		bs := stageview.BusStream{Name: messaging.StreamName(topic), Topic: topic}
		err := jsErr
		var stream jetstream.Stream
		if err == nil {
			stream, err = js.Stream(ctx, bs.Name)
		}
		if err != nil {
			bs.Err = busError(err)
			out = append(out, bs)
			continue
		}
		info := stream.CachedInfo()
		bs.Messages, bs.Bytes, bs.FirstSeq, bs.LastSeq = info.State.Msgs, info.State.Bytes, info.State.FirstSeq, info.State.LastSeq
		for _, c := range s.consumers() {
			if c.topic != topic {
				continue
			}
			bc := stageview.BusConsumer{Name: messaging.ConsumerName(c.group)}
			con, err := js.Consumer(ctx, bs.Name, bc.Name)
			if err != nil {
				bc.Err = busError(err)
			} else {
				ci := con.CachedInfo()
				bc.Delivered, bc.AckFloor = ci.Delivered.Stream, ci.AckFloor.Stream
				bc.Pending, bc.AckPending, bc.Redelivered = ci.NumPending, ci.NumAckPending, ci.NumRedelivered
			}
			bs.Consumers = append(bs.Consumers, bc)
		}
		out = append(out, bs)
	}
	return out
}

func busError(err error) string {
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return "the bus has no such stream yet: nothing was published to it"
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		return "the bus has no such consumer yet"
	case errors.Is(err, context.DeadlineExceeded):
		return "the bus did not answer within 2 s"
	}
	return "the bus did not answer: " + err.Error()
}
