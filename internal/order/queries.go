package order

import (
	"time"
	"unicode/utf8"
)

// SummaryQuery asks for a page of order summaries, newest first.
type SummaryQuery struct {
	Status Status // "" for every status
	Q      string // part of the customer's name, any case
	Limit  int    // 1..MaxPage; 0 means DefaultPage
	After  string // cursor from the previous page's Next
}

// Page sizes.
const (
	DefaultPage = 20
	MaxPage     = 100
)

// Normalize checks the query and fills defaults.
func (q SummaryQuery) Normalize() (SummaryQuery, error) {
	var fe fieldErrors
	if q.Status != "" && !q.Status.Valid() {
		fe.add("status", "must be one of placed, shipped, delivered, cancelled")
	}
	switch {
	case !utf8.ValidString(q.Q):
		fe.add("q", "must be valid UTF-8 text")
	case hasControl(q.Q):
		// No customer holds one (Place refuses them), and PostgreSQL
		// refuses a NUL in any text.
		fe.add("q", "must not contain control characters")
	case utf8.RuneCountInString(q.Q) > MaxCustomerLen:
		fe.add("q", "must be at most %d characters", MaxCustomerLen)
	}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultPage
	case q.Limit < 1 || q.Limit > MaxPage:
		fe.add("limit", "must be between 1 and %d", MaxPage)
	}
	if q.After != "" {
		if _, err := DecodeCursor(q.After); err != nil {
			fe.add("after", "is not a cursor this API gave")
		}
	}
	if err := fe.err(); err != nil {
		e := err.(*Error)
		e.Message = "the query is not valid"
		return q, e
	}
	return q, nil
}

// Source says which side of the application answered a query.
type Source string

// The sides a read can come from.
const (
	WriteModel Source = "write model"
	ReadModel  Source = "read model"
)

// Summary is one row of the orders list.
type Summary struct {
	ID         ID
	Customer   string
	Status     Status
	Currency   string
	LineCount  int
	TotalCents int64
	Version    int
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// SummaryPage is a page of summaries. Next is the cursor of the next page,
// "" on the last one.
type SummaryPage struct {
	Orders []Summary
	Next   string
	Source Source
}

// Detail is one order with everything its page shows.
type Detail struct {
	Order
	TotalCents int64
	History    []HistoryEntry
	Source     Source
	// Rejection is set when a command accepted for this order failed its
	// rules later (stage 3's asynchronous command bus).
	Rejection string
}

// HistoryEntry is one past change of an order.
type HistoryEntry struct {
	Version int
	Type    string
	At      time.Time
	Text    string
}

// Dashboard is the shop at a glance.
type Dashboard struct {
	Counts       map[Status]int
	Orders       int
	Revenue      Money // every order that is not cancelled, per currency
	TopCustomers []CustomerTotal
	Source       Source
}

// Money is amounts in cents per currency: orders in different currencies
// are never added up.
type Money map[string]int64

// CustomerTotal is one customer's orders and spend; the dashboard ranks
// customers by their number of orders that are not cancelled.
type CustomerTotal struct {
	Customer string
	Orders   int
	Revenue  Money
}

// TopCustomersLimit is how many customers the dashboard ranks.
const TopCustomersLimit = 5

// Page makes a page of a list read with limit+1 rows: the extra row, if
// any, only says there is a next page, whose cursor is the last kept row.
// Times are given in UTC, whatever the database returned.
func Page(rows []Summary, limit int, src Source) SummaryPage {
	page := SummaryPage{Orders: rows, Source: src}
	if len(rows) > limit {
		page.Orders = rows[:limit]
		last := page.Orders[limit-1]
		page.Next = Cursor{CreatedAt: last.CreatedAt, ID: last.ID}.Encode()
	}
	if page.Orders == nil {
		page.Orders = []Summary{}
	}
	for i := range page.Orders {
		page.Orders[i].CreatedAt = page.Orders[i].CreatedAt.UTC()
		page.Orders[i].UpdatedAt = page.Orders[i].UpdatedAt.UTC()
	}
	return page
}
