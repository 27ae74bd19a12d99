package httpapi

import (
	"time"

	"github.com/staircase/staircase/internal/order"
)

// The JSON of the retrieve APIs (stage 1 on): every read says which version
// of each order it saw and which side of the application answered.

// Summary is one row of the orders list in JSON.
type Summary struct {
	ID         string    `json:"id"`
	Customer   string    `json:"customer"`
	Status     string    `json:"status"`
	Currency   string    `json:"currency"`
	LineCount  int       `json:"line_count"`
	TotalCents int64     `json:"total_cents"`
	Version    int       `json:"version"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// SummaryPage is a page of summaries; Next is the cursor of the next page,
// "" on the last one.
type SummaryPage struct {
	Orders []Summary `json:"orders"`
	Next   string    `json:"next"`
	Source string    `json:"source"`
}

// OrderDetail is one order in JSON, as stage 0 shows it, plus its history
// when the stage keeps one and the side that answered.
type OrderDetail struct {
	Order
	History   []HistoryEntry `json:"history,omitempty"`
	Rejection string         `json:"rejection,omitempty"`
	Source    string         `json:"source"`
}

// HistoryEntry is one past change of an order in JSON.
type HistoryEntry struct {
	Version int       `json:"version"`
	Type    string    `json:"type"`
	At      time.Time `json:"at"`
	Text    string    `json:"text,omitempty"`
}

// Dashboard is the shop at a glance in JSON. Counts has every status, zero
// or not; amounts are cents per currency.
type Dashboard struct {
	Counts       map[string]int   `json:"counts"`
	Orders       int              `json:"orders"`
	Revenue      map[string]int64 `json:"revenue_cents"`
	TopCustomers []CustomerTotal  `json:"top_customers"`
	Source       string           `json:"source"`
}

// CustomerTotal is one of the dashboard's top customers in JSON.
type CustomerTotal struct {
	Customer string           `json:"customer"`
	Orders   int              `json:"orders"`
	Revenue  map[string]int64 `json:"revenue_cents"`
}

// FromSummaryPage renders a page of summaries, never with a null list.
func FromSummaryPage(p order.SummaryPage) SummaryPage {
	out := SummaryPage{Orders: make([]Summary, len(p.Orders)), Next: p.Next, Source: string(p.Source)}
	for i, s := range p.Orders {
		out.Orders[i] = Summary{
			ID: s.ID.String(), Customer: s.Customer, Status: string(s.Status), Currency: s.Currency,
			LineCount: s.LineCount, TotalCents: s.TotalCents, Version: s.Version,
			CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC(),
		}
	}
	return out
}

// FromDetail renders one order with its history.
func FromDetail(d order.Detail) OrderDetail {
	o := d.Order
	out := OrderDetail{Order: FromOrder(&o), Rejection: d.Rejection, Source: string(d.Source)}
	if d.TotalCents != 0 {
		out.TotalCents = d.TotalCents
	}
	for _, h := range d.History {
		out.History = append(out.History, HistoryEntry{Version: h.Version, Type: h.Type, At: h.At.UTC(), Text: h.Text})
	}
	return out
}

// FromDashboard renders the dashboard with every status counted.
func FromDashboard(d order.Dashboard) Dashboard {
	out := Dashboard{
		Counts: make(map[string]int, len(order.Statuses)), Orders: d.Orders, Revenue: money(d.Revenue),
		TopCustomers: make([]CustomerTotal, len(d.TopCustomers)), Source: string(d.Source),
	}
	for _, s := range order.Statuses {
		out.Counts[string(s)] = d.Counts[s]
	}
	for i, c := range d.TopCustomers {
		out.TopCustomers[i] = CustomerTotal{Customer: c.Customer, Orders: c.Orders, Revenue: money(c.Revenue)}
	}
	return out
}

func money(m order.Money) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
