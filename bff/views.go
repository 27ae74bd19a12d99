package bff

import (
	"strconv"
	"strings"
	"time"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/web"
)

// moneyList formats amounts in several currencies, largest first.
func moneyList(m order.Money) string {
	if len(m) == 0 {
		return order.FormatMoney(0, order.DefaultCurrency)
	}
	parts := make([]string, 0, len(m))
	for _, c := range order.Currencies {
		if v, ok := m[c]; ok {
			parts = append(parts, order.FormatMoney(v, c))
		}
	}
	for c, v := range m {
		known := false
		for _, k := range order.Currencies {
			known = known || k == c
		}
		if !known {
			parts = append(parts, order.FormatMoney(v, c))
		}
	}
	return strings.Join(parts, " · ")
}

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 Jan 2006, 15:04 UTC")
}

// shortID is the random tail of an order ID: the head of a UUIDv7 is its
// creation time, the same for every order of the same minute.
func shortID(id order.ID) string {
	s := id.String()
	return s[len(s)-8:]
}

func orderURL(id order.ID) string { return "/orders/" + id.String() }

func summaryRow(s order.Summary) web.OrderRow {
	return web.OrderRow{
		ID: s.ID.String(), ShortID: shortID(s.ID), URL: orderURL(s.ID), Customer: s.Customer,
		Status: string(s.Status), StatusLabel: s.Status.Label(), Lines: s.LineCount,
		Total: order.FormatMoney(s.TotalCents, s.Currency), CreatedAt: when(s.CreatedAt), Version: s.Version,
	}
}

func statusOptions(selected order.Status) []web.Option {
	opts := []web.Option{{Value: "", Label: "All statuses", Selected: selected == ""}}
	for _, st := range order.Statuses {
		opts = append(opts, web.Option{Value: string(st), Label: st.Label(), Selected: st == selected})
	}
	return opts
}

func detailView(d order.Detail, stage int) web.OrderDetail {
	can := order.Allowed(d.Status)
	v := web.OrderDetail{
		ID: d.ID.String(), ShortID: shortID(d.ID), Customer: d.Customer, Address: d.Address,
		Status: string(d.Status), StatusLabel: d.Status.Label(), Version: d.Version,
		Total: order.FormatMoney(d.TotalCents, d.Currency), CreatedAt: when(d.CreatedAt), UpdatedAt: when(d.UpdatedAt),
		Source:         sourceText(d.Source, stage, d.Version),
		Rejection:      d.Rejection,
		CanChangeLines: can.ChangeLines, CanShip: can.Ship, CanDeliver: can.Deliver, CanCancel: can.Cancel, CanDelete: can.Delete,
	}
	for _, l := range d.Lines {
		v.Lines = append(v.Lines, web.LineView{
			SKU: l.SKU, Name: l.Name, Quantity: strconv.Itoa(l.Quantity),
			UnitPrice: order.FormatMoney(l.UnitPriceCents, d.Currency), Subtotal: order.FormatMoney(l.TotalCents(), d.Currency),
		})
	}
	for _, h := range d.History {
		v.History = append(v.History, web.HistoryEntry{At: when(h.At), Text: "v" + strconv.Itoa(h.Version) + " · " + h.Text})
	}
	return v
}

// sourceText says where a read came from: "write model · stage 0 · v3".
func sourceText(src order.Source, stage, version int) string {
	s := string(src) + " · stage " + strconv.Itoa(stage)
	if version > 0 {
		s += " · v" + strconv.Itoa(version)
	}
	return s
}

func dashboardView(d order.Dashboard, stage int) web.Dashboard {
	v := web.Dashboard{Orders: d.Orders, Revenue: moneyList(d.Revenue), Source: sourceText(d.Source, stage, 0)}
	for _, st := range order.Statuses {
		v.Counts = append(v.Counts, web.StatusCount{Status: string(st), Label: st.Label(), Count: d.Counts[st]})
	}
	for _, c := range d.TopCustomers {
		v.TopCustomers = append(v.TopCustomers, web.CustomerRow{Name: c.Customer, Orders: c.Orders, Revenue: moneyList(c.Revenue)})
	}
	return v
}

func linesInput(ls []order.Line) []web.LineInput {
	out := make([]web.LineInput, len(ls))
	for i, l := range ls {
		out[i] = web.LineInput{Index: i, SKU: l.SKU, Name: l.Name, Quantity: strconv.Itoa(l.Quantity), UnitPrice: decimal(l.UnitPriceCents)}
	}
	return out
}

// decimal writes cents as a plain decimal for an input: "12.50".
func decimal(cents int64) string {
	return strconv.FormatInt(cents/100, 10) + "." + strconv.FormatInt(cents%100/10, 10) + strconv.FormatInt(cents%10, 10)
}

// timeZero is the time used when a command is only checked, never applied.
var timeZero = time.Unix(0, 0)

const switchTimeout = 10 * time.Minute
