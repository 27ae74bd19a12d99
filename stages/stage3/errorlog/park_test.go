package errorlog

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/projection"
)

func backends(t *testing.T, f func(t *testing.T, b sqltest.Backend)) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) { f(t, b) })
	}
}

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// history makes an order's first events: placed, lines changed, shipped.
func history(t *testing.T) []order.Event {
	t.Helper()
	lines := []order.Line{{SKU: "BOOK-1", Name: "Notes", Quantity: 2, UnitPriceCents: 4200}}
	o, placed, err := order.Place(order.PlaceOrder{ID: order.NewID(), Customer: "Ada", Address: "1 High Street", Lines: lines}, t0)
	if err != nil {
		t.Fatal(err)
	}
	changed, err := o.ChangeLines(order.ChangeOrderLines{ID: o.ID, Lines: append(lines, order.Line{SKU: "PEN", Name: "Pen", Quantity: 1, UnitPriceCents: 150})}, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := o.Ship(order.ShipOrder{ID: o.ID}, t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return []order.Event{placed, changed, shipped}
}

// poisoned is m as the poison queue hands it to the error log after
// attempts tries that failed with reason.
func poisoned(m *message.Message, attempts int, reason string) *message.Message {
	for range attempts {
		countAttempt(m)
	}
	m.Metadata.Set(middleware.ReasonForPoisonedKey, reason)
	return m
}

// eventMessage wraps e as the relay does.
func eventMessage(t *testing.T, e order.Event) (*message.Message, error) {
	t.Helper()
	payload, err := changelog.Marshal(e)
	if err != nil {
		return nil, err
	}
	m := message.NewMessage(e.ID.String(), payload)
	m.Metadata.Set(changelog.MetaOrderID, e.OrderID.String())
	m.Metadata.Set(changelog.MetaVersion, strconv.Itoa(e.OrderVersion))
	m.Metadata.Set(changelog.MetaType, e.Type)
	return m, nil
}

func entries(t *testing.T, read *bun.DB) []projection.ErrorEntry {
	t.Helper()
	es, err := New(read, nil, nil, nil).List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestAnUnreadableMessageIsParkedRawUnderItsMetadataNotDropped(t *testing.T) {
	backends(t, func(t *testing.T, b sqltest.Backend) {
		ctx := context.Background()
		read := sqltest.Open(t, b, migrations.Read)
		e := history(t)[1]
		m, err := eventMessage(t, e)
		if err != nil {
			t.Fatal(err)
		}
		// The same event as a schema version this code does not know.
		var env map[string]any
		if err := json.Unmarshal(m.Payload, &env); err != nil {
			t.Fatal(err)
		}
		env["schema_version"] = 99
		if m.Payload, err = json.Marshal(env); err != nil {
			t.Fatal(err)
		}
		l := poisonQueue{Projector{Read: read, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
		if err := l.Publish("error-log", poisoned(m, 1, "unreadable event: schema 99")); err != nil {
			t.Fatal(err)
		}
		got := entries(t, read)
		if len(got) != 1 {
			t.Fatalf("%d entries, want 1", len(got))
		}
		p := got[0]
		if p.EventID != e.ID || p.OrderID != e.OrderID || p.OrderVersion != 2 || p.Type != "OrderLinesChanged" ||
			p.Status != projection.StatusParked || p.Attempts != 1 || p.Envelope != string(m.Payload) {
			t.Fatalf("parked %+v", p)
		}
		if !strings.Contains(p.Error, "schema 99") {
			t.Errorf("error %q does not say why", p.Error)
		}
		if err := Readable(p); err == nil {
			t.Error("Readable says the schema 99 envelope can be read")
		}
		held, err := projection.Held(ctx, read, e.OrderID)
		if err != nil || !held {
			t.Errorf("the order's later events are not held behind the unreadable one (%v, %v)", held, err)
		}
		report, err := New(read, nil, nil, nil).Replay(ctx, p.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		if report.Failed != 1 || !strings.HasPrefix(report.Steps[0].Text, "would still fail: ") {
			t.Errorf("dry run of the unreadable entry: %+v", report)
		}
	})
}

func TestAMessageThatIsNotTextIsParkedBase64OnceForAllItsDeliveries(t *testing.T) {
	backends(t, func(t *testing.T, b sqltest.Backend) {
		read := sqltest.Open(t, b, migrations.Read)
		orderID := order.NewID()
		payload := []byte{0xff, 0x00, 0xfe, 'x'}
		l := poisonQueue{Projector{Read: read, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
		for range 2 { // a redelivery parks it again, on the same entry
			m := message.NewMessage("not-a-uuid", payload)
			m.Metadata.Set(changelog.MetaOrderID, orderID.String())
			m.Metadata.Set(changelog.MetaVersion, "4")
			if err := l.Publish("error-log", poisoned(m, 1, "unreadable event")); err != nil {
				t.Fatal(err)
			}
		}
		got := entries(t, read)
		if len(got) != 1 {
			t.Fatalf("%d entries, want 1", len(got))
		}
		p := got[0]
		if p.OrderID != orderID || p.OrderVersion != 4 || p.Type != "unknown" || p.EventID == uuid.Nil {
			t.Errorf("parked %+v", p)
		}
		if !strings.HasPrefix(p.Envelope, rawPrefix) {
			t.Errorf("envelope %q is not kept base64", p.Envelope)
		}
	})
}

func TestParkingRecordsHowOftenTheEventWasTried(t *testing.T) {
	backends(t, func(t *testing.T, b sqltest.Backend) {
		read := sqltest.Open(t, b, migrations.Read)
		e := history(t)[2]
		m, err := eventMessage(t, e)
		if err != nil {
			t.Fatal(err)
		}
		l := poisonQueue{Projector{Read: read, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
		if err := l.Publish("error-log", poisoned(m, 4, projection.ErrGap.Error())); err != nil {
			t.Fatal(err)
		}
		got := entries(t, read)
		if len(got) != 1 || got[0].Attempts != 4 || got[0].Error != projection.ErrGap.Error() || Readable(got[0]) != nil {
			t.Fatalf("parked %+v", got)
		}
	})
}

func TestTheErrorLogFiltersByStatusAndRejectsAnUnknownOne(t *testing.T) {
	backends(t, func(t *testing.T, b sqltest.Backend) {
		ctx := context.Background()
		read := sqltest.Open(t, b, migrations.Read)
		events := history(t)
		if err := projection.Park(ctx, read, events[1], []byte(`{}`), projection.ErrGap, 3); err != nil {
			t.Fatal(err)
		}
		if err := projection.Hold(ctx, read, events[2], []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		l := New(read, nil, nil, nil)
		for status, want := range map[string]int{"": 2, "parked": 1, "held": 1, "replayed": 0} {
			got, err := l.List(ctx, status)
			if err != nil || len(got) != want {
				t.Errorf("status %q: %d entries (%v), want %d", status, len(got), err, want)
			}
		}
		if _, err := l.List(ctx, "lost"); order.ErrorCode(err) != order.EINVALID {
			t.Errorf("unknown status: %v, want EINVALID", err)
		}
		for _, id := range []int64{0, -1, 999} {
			if _, err := l.Entry(ctx, id); order.ErrorCode(err) != order.ENOTFOUND {
				t.Errorf("entry %s: %v, want ENOTFOUND", strconv.FormatInt(id, 10), err)
			}
		}
		if _, err := l.Replay(ctx, 999, true); order.ErrorCode(err) != order.ENOTFOUND {
			t.Errorf("replay of an unknown entry: %v, want ENOTFOUND", err)
		}
	})
}
