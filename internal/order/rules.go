package order

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of an order's fields.
const (
	MaxCustomerLen  = 200
	MaxAddressLen   = 500
	MaxLines        = 50
	MaxSKULen       = 64
	MaxNameLen      = 200
	MaxQuantity     = 1000
	MaxUnitPrice    = 10_000_000 // cents: 100,000.00 a unit
	MaxReasonLen    = 500
	DefaultCurrency = "USD"
)

// Currencies the shop takes.
var Currencies = []string{"USD", "EUR", "GBP"}

func knownCurrency(c string) bool {
	for _, k := range Currencies {
		if k == c {
			return true
		}
	}
	return false
}

// Place checks a PlaceOrder command and returns the new order at version 1
// and its OrderPlaced event.
func Place(cmd PlaceOrder, now time.Time) (*Order, Event, error) {
	n, err := cmd.normalize()
	if err != nil {
		return nil, Event{}, err
	}
	now = now.UTC().Truncate(time.Microsecond)
	o := &Order{
		ID: n.ID, Customer: n.Customer, Address: n.Address, Currency: n.Currency, Lines: n.Lines,
		Status: Placed, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	ev := newEvent(o, now, OrderPlaced{Customer: n.Customer, Address: n.Address, Currency: n.Currency, Lines: n.Lines})
	return o, ev, nil
}

// normalize checks the command's fields and returns them trimmed, with the
// default currency filled in.
func (c PlaceOrder) normalize() (PlaceOrder, error) {
	var fe fieldErrors
	checkID(&fe, c.ID)
	n := PlaceOrder{ID: c.ID}
	n.Customer = checkText(&fe, "customer", c.Customer, MaxCustomerLen)
	n.Address = checkText(&fe, "address", c.Address, MaxAddressLen)
	n.Currency = strings.ToUpper(strings.TrimSpace(c.Currency))
	if n.Currency == "" {
		n.Currency = DefaultCurrency
	} else if !knownCurrency(n.Currency) {
		fe.add("currency", "must be one of %s", strings.Join(Currencies, ", "))
	}
	n.Lines = checkLines(&fe, c.Lines)
	return n, fe.err()
}

// Fingerprint identifies what a PlaceOrder command asks for, after the same
// trimming Place does. A store keeps it with the order so that a repeated
// PlaceOrder with the same ID and the same content returns the order instead
// of failing, while the same ID with other content is a conflict.
func Fingerprint(cmd PlaceOrder) string {
	var fe fieldErrors
	norm := struct {
		Customer, Address, Currency string
		Lines                       []Line
	}{
		Customer: strings.TrimSpace(cmd.Customer),
		Address:  strings.TrimSpace(cmd.Address),
		Currency: strings.ToUpper(strings.TrimSpace(cmd.Currency)),
		Lines:    checkLines(&fe, cmd.Lines),
	}
	if norm.Currency == "" {
		norm.Currency = DefaultCurrency
	}
	b, _ := json.Marshal(norm)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ChangeLines replaces the lines of a placed order.
func (o *Order) ChangeLines(cmd ChangeOrderLines, now time.Time) (Event, error) {
	var fe fieldErrors
	lines := checkLines(&fe, cmd.Lines)
	if err := o.expect(&fe, cmd.ExpectedVersion); err != nil {
		return Event{}, err
	}
	if !Allowed(o.Status).ChangeLines {
		return Event{}, o.statusConflict("change the lines of")
	}
	o.Lines = lines
	return o.bump(now, OrderLinesChanged{Lines: lines}), nil
}

// Ship marks a placed order shipped.
func (o *Order) Ship(cmd ShipOrder, now time.Time) (Event, error) {
	if err := o.expect(&fieldErrors{}, cmd.ExpectedVersion); err != nil {
		return Event{}, err
	}
	if !Allowed(o.Status).Ship {
		return Event{}, o.statusConflict("ship")
	}
	o.Status = Shipped
	return o.bump(now, OrderShipped{}), nil
}

// Deliver marks a shipped order delivered.
func (o *Order) Deliver(cmd DeliverOrder, now time.Time) (Event, error) {
	if err := o.expect(&fieldErrors{}, cmd.ExpectedVersion); err != nil {
		return Event{}, err
	}
	if !Allowed(o.Status).Deliver {
		return Event{}, o.statusConflict("deliver")
	}
	o.Status = Delivered
	return o.bump(now, OrderDelivered{}), nil
}

// Cancel cancels a placed order.
func (o *Order) Cancel(cmd CancelOrder, now time.Time) (Event, error) {
	var fe fieldErrors
	reason := checkReason(&fe, cmd.Reason)
	if err := o.expect(&fe, cmd.ExpectedVersion); err != nil {
		return Event{}, err
	}
	if !Allowed(o.Status).Cancel {
		return Event{}, o.statusConflict("cancel")
	}
	o.Status = Cancelled
	return o.bump(now, OrderCancelled{Reason: reason}), nil
}

// Delete checks that the order may be deleted and returns its OrderDeleted
// event; the caller removes the order.
func (o *Order) Delete(cmd DeleteOrder, now time.Time) (Event, error) {
	if err := o.expect(&fieldErrors{}, cmd.ExpectedVersion); err != nil {
		return Event{}, err
	}
	if !Allowed(o.Status).Delete {
		return Event{}, o.statusConflict("delete")
	}
	return o.bump(now, OrderDeleted{}), nil
}

// expect adds the expected version's field check to fe (the command's other
// field errors, if any) and fails with them all, as the command's Validate
// does; then with a conflict if the order is at another version.
func (o *Order) expect(fe *fieldErrors, version int) error {
	checkExpected(fe, version)
	if err := fe.err(); err != nil {
		return err
	}
	if version != 0 && version != o.Version {
		return VersionConflict(o.clone(), version)
	}
	return nil
}

func (o *Order) statusConflict(verb string) error {
	e := Errorf(ECONFLICT, "cannot %s an order that is %s", verb, o.Status)
	e.Current = o.clone()
	return e
}

func (o *Order) bump(now time.Time, payload Payload) Event {
	o.Version++
	o.UpdatedAt = now.UTC().Truncate(time.Microsecond)
	return newEvent(o, o.UpdatedAt, payload)
}

func (o *Order) clone() *Order {
	c := *o
	c.Lines = append([]Line(nil), o.Lines...)
	return &c
}

// CheckLines checks a list of lines as every command that carries lines
// does, and returns them trimmed.
func CheckLines(lines []Line) ([]Line, error) {
	var fe fieldErrors
	out := checkLines(&fe, lines)
	return out, fe.err()
}

func checkLines(fe *fieldErrors, lines []Line) []Line {
	switch {
	case len(lines) == 0:
		fe.add("lines", "an order needs at least one line")
		return nil
	case len(lines) > MaxLines:
		fe.add("lines", "an order has at most %d lines", MaxLines)
		return nil
	}
	out := make([]Line, len(lines))
	seen := make(map[string]int, len(lines))
	for i, l := range lines {
		p := func(f string) string { return "lines[" + itoa(i) + "]." + f }
		sku := strings.TrimSpace(l.SKU)
		switch {
		case sku == "":
			fe.add(p("sku"), "is required")
		case utf8.RuneCountInString(sku) > MaxSKULen:
			fe.add(p("sku"), "must be at most %d characters", MaxSKULen)
		case !skuChars(sku):
			fe.add(p("sku"), "may hold only letters, digits, '-', '_' and '.'")
		default:
			key := strings.ToUpper(sku)
			if j, dup := seen[key]; dup {
				fe.add(p("sku"), "repeats the SKU of line %d: change that line's quantity instead", j+1)
			}
			seen[key] = i
		}
		name := checkText(fe, p("name"), l.Name, MaxNameLen)
		if l.Quantity < 1 || l.Quantity > MaxQuantity {
			fe.add(p("quantity"), "must be between 1 and %d", MaxQuantity)
		}
		if l.UnitPriceCents < 0 || l.UnitPriceCents > MaxUnitPrice {
			fe.add(p("unit_price_cents"), "must be between 0 and %d cents", MaxUnitPrice)
		}
		out[i] = Line{SKU: sku, Name: name, Quantity: l.Quantity, UnitPriceCents: l.UnitPriceCents}
	}
	return out
}

func checkText(fe *fieldErrors, field, s string, max int) string {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		fe.add(field, "is required")
	case !utf8.ValidString(s):
		fe.add(field, "must be valid UTF-8 text")
	case utf8.RuneCountInString(s) > max:
		fe.add(field, "must be at most %d characters", max)
	case hasControl(s) && field != "address":
		fe.add(field, "must not contain control characters")
	case field == "address" && hasControlExceptNewline(s):
		fe.add(field, "must not contain control characters")
	}
	return s
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

func hasControlExceptNewline(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' }) >= 0
}

func skuChars(s string) bool {
	for _, r := range s {
		if !(r == '-' || r == '_' || r == '.' || r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))) {
			return false
		}
	}
	return true
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

func checkID(fe *fieldErrors, id ID) {
	if id == (ID{}) {
		fe.add("id", "is required (a UUID made by the client)")
	}
}

func checkExpected(fe *fieldErrors, version int) {
	if version < 0 {
		fe.add("expected_version", "must be a positive version")
	}
}

func checkReason(fe *fieldErrors, reason string) string {
	reason = strings.TrimSpace(reason)
	switch {
	case !utf8.ValidString(reason):
		fe.add("reason", "must be valid UTF-8 text")
	case utf8.RuneCountInString(reason) > MaxReasonLen:
		fe.add("reason", "must be at most %d characters", MaxReasonLen)
	case hasControl(reason):
		fe.add("reason", "must not contain control characters")
	}
	return reason
}
