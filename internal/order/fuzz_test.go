package order_test

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/staircase/staircase/internal/order"
)

// FuzzDecodeCursor: any string either is refused or is a cursor that
// encodes back to itself, within the years a database can compare.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(order.Cursor{CreatedAt: time.Date(2026, 11, 25, 10, 0, 0, 123000, time.UTC), ID: uuid.MustParse("0197a3c4-0000-7000-8000-000000000001")}.Encode())
	f.Add("")
	f.Add("LTEuMDE5N2EzYzQtMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMDAx")
	f.Add("OTIyMzM3MjAzNjg1NDc3NTgwNy4wMTk3YTNjNC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDE")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := order.DecodeCursor(s)
		if err != nil {
			return
		}
		if y := c.CreatedAt.Year(); y < 1 || y > 9999 {
			t.Fatalf("cursor %q decodes to year %d", s, y)
		}
		again, err := order.DecodeCursor(c.Encode())
		if err != nil || !again.CreatedAt.Equal(c.CreatedAt) || again.ID != c.ID {
			t.Fatalf("cursor %q: %+v encodes to %q, which decodes to %+v, %v", s, c, c.Encode(), again, err)
		}
		q, err := order.SummaryQuery{After: s}.Normalize()
		if err != nil || q.After != s {
			t.Fatalf("a decodable cursor is refused by the query: %v", err)
		}
	})
}

// FuzzPlaceOrder: Validate and the rules agree on every command, and what
// they accept is within the limits the screens and tables rely on.
func FuzzPlaceOrder(f *testing.F) {
	f.Add(true, "Ada", "1 Loop Rd", "", "A-1", "Widget", 2, int64(250), uint8(1))
	f.Add(false, "", "", "XXX", "", "", 0, int64(-1), uint8(0))
	f.Add(true, "Ada\x00", "line\nline", "eur", "a b", strings.Repeat("n", 201), 1001, int64(10_000_001), uint8(51))
	f.Add(true, "\xff", " ", "GBP", "SKU.1_x", "Ünïcödé 🎉", 1000, int64(10_000_000), uint8(50))
	f.Fuzz(func(t *testing.T, withID bool, customer, address, currency, sku, name string, qty int, price int64, n uint8) {
		cmd := order.PlaceOrder{Customer: customer, Address: address, Currency: currency}
		if withID {
			cmd.ID = order.NewID()
		}
		for i := range int(n) {
			cmd.Lines = append(cmd.Lines, order.Line{SKU: sku + strings.Repeat("x", i), Name: name, Quantity: qty, UnitPriceCents: price})
		}
		verr := cmd.Validate()
		o, ev, perr := order.Place(cmd, time.Now())
		if (verr == nil) != (perr == nil) || !reflect.DeepEqual(order.FieldErrors(verr), order.FieldErrors(perr)) {
			t.Fatalf("Validate says %v, Place says %v", verr, perr)
		}
		if perr != nil {
			if order.ErrorCode(perr) != order.EINVALID || len(order.FieldErrors(perr)) == 0 {
				t.Fatalf("refused without field errors: %v", perr)
			}
			return
		}
		if len(o.Lines) < 1 || len(o.Lines) > order.MaxLines || o.Version != 1 || ev.OrderVersion != 1 {
			t.Fatalf("placed %+v", o)
		}
		for _, s := range []string{o.Customer, o.Address, o.Lines[0].Name, o.Lines[0].SKU} {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) || s != strings.TrimSpace(s) {
				t.Fatalf("accepted text %q", s)
			}
		}
		if o.TotalCents() < 0 || o.TotalCents() > int64(order.MaxLines)*order.MaxQuantity*order.MaxUnitPrice {
			t.Fatalf("total %d", o.TotalCents())
		}
		if order.Fingerprint(cmd) != order.Fingerprint(order.PlaceOrder{ID: cmd.ID, Customer: o.Customer, Address: o.Address, Currency: o.Currency, Lines: o.Lines}) {
			t.Fatal("the fingerprint of a command differs from that of the order it placed")
		}
	})
}
