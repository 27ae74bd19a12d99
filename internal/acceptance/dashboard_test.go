package acceptance

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/staircase/staircase/internal/httpapi"
)

// dashboardSeen is the dashboard page as a person reads it.
type dashboardSeen struct {
	orders, revenue string
	counts          map[string]string
	customers       []string // "name | orders | revenue", in rank order
	rankedBy        string
}

func readDashboard(t *testing.T, e *env) dashboardSeen {
	t.Helper()
	doc, r := browser{e}.page(t, "/dashboard")
	if r.status != 200 {
		t.Fatalf("dashboard: %d %s", r.status, r.body)
	}
	text := func(s *goquery.Selection) string { return strings.Join(strings.Fields(s.Text()), " ") }
	d := dashboardSeen{
		orders:   text(doc.Find(`[data-testid="orders-count"] .card-value`)),
		revenue:  text(doc.Find(`[data-testid="revenue"]`)),
		counts:   map[string]string{},
		rankedBy: text(doc.Find(`[data-testid="top-customers-ranked-by"]`)),
	}
	for _, st := range []string{"placed", "shipped", "delivered", "cancelled"} {
		d.counts[st] = text(doc.Find(`[data-testid="count-` + st + `"] .card-value`))
	}
	doc.Find(`[data-testid="customer-row"]`).Each(func(_ int, row *goquery.Selection) {
		var cells []string
		row.Find("td").Each(func(_ int, td *goquery.Selection) { cells = append(cells, text(td)) })
		d.customers = append(d.customers, strings.Join(cells, " | "))
	})
	return d
}

// TestDashboardAfterEveryKindOfChange checks the dashboard — orders per
// status, revenue, top customers — after places, line changes, ships,
// deliveries, cancels and deletes, with an amount past a million whose
// cents must show. Every stage shows the same figures; stage 3 reads them
// from its dashboard projection, eventually.
func TestDashboardAfterEveryKindOfChange(t *testing.T) {
	forEachStage(t, func(t *testing.T, e *env) {
		line := func(sku string, qty int, cents int64) httpapi.Line {
			return httpapi.Line{SKU: sku, Name: sku, Quantity: qty, UnitPriceCents: cents}
		}
		place := func(customer, currency string, lines ...httpapi.Line) string {
			t.Helper()
			id := newID()
			req := request(id, customer, lines...)
			req.Currency = currency
			r := e.api.place(req)
			if !r.ok() {
				t.Fatalf("place: %d %s", r.status, r.body)
			}
			seen(t, e, id, r.version)
			return id
		}
		must := func(what string, r result) {
			t.Helper()
			if !r.ok() {
				t.Fatalf("%s: %d %s", what, r.status, r.body)
			}
		}
		ada := place("Ada Lovelace", "USD", line("TEA-01", 2, 1250))
		must("change lines", e.api.changeLines(ada, []httpapi.Line{line("TEA-01", 2, 1250), line("POT-01", 1, 4500)}, 0))
		must("ship", e.api.ship(ada, 0))
		grace := place("Grace Hopper", "EUR", line("CUP-02", 3, 800))
		must("cancel", e.api.cancel(grace, "changed my mind", 0))
		place("Ada Lovelace", "EUR", line("BOOK-1", 1, 900))
		linus := place("Linus Torvalds", "USD", line("LAMP-2", 1, 5900))
		must("ship", e.api.ship(linus, 0))
		must("deliver", e.api.deliver(linus, 0))
		edsger := place("Edsger Dijkstra", "GBP", line("SOAP-4", 1, 450))
		must("delete", e.api.remove(edsger, 0))
		place("Big Spender", "USD", line("CAR-1", 13, 9999999))
		place("Grace Hopper", "USD", line("MUG-11", 2, 1400))
		ink := place("Ada Lovelace", "USD", line("INK-07", 1, 650))
		must("cancel", e.api.cancel(ink, "", 0))

		want := dashboardSeen{
			orders:  "7",
			revenue: "$1,300,156.87 · €9.00",
			counts:  map[string]string{"placed": "3", "shipped": "1", "delivered": "1", "cancelled": "2"},
			customers: []string{
				"Ada Lovelace | 2 | $70.00 · €9.00",
				"Big Spender | 1 | $1,299,999.87",
				"Linus Torvalds | 1 | $59.00",
				"Grace Hopper | 1 | $28.00",
			},
		}
		var got dashboardSeen
		ok := func() bool {
			got = readDashboard(t, e)
			return got.orders == want.orders && got.revenue == want.revenue && fmt.Sprint(got.counts) == fmt.Sprint(want.counts) &&
				slices.Equal(got.customers, want.customers)
		}
		if !ok() {
			eventually(t, "the dashboard's figures", ok)
		}
		if !strings.Contains(got.rankedBy, "orders") {
			t.Fatalf("the top customers do not say what they are ranked by: %q", got.rankedBy)
		}
	})
}

// TestSearchFindsSubstringsOfTheCustomer checks the list's search: a
// case-insensitive substring of the customer, any length, in every stage —
// stage 3 answers it from a trigram index, falling back to a scan for a
// text too short for trigrams.
func TestSearchFindsSubstringsOfTheCustomer(t *testing.T) {
	forEachStage(t, func(t *testing.T, e *env) {
		ids := map[string]string{}
		for _, c := range []string{"Ada Lovelace", "Grace Hopper", "Adam Smith", "Ola Nordmann", "100% Cotton_Co", "Zoë Ångström", "Li"} {
			ids[c] = placed(t, e, c)
		}
		cases := []struct {
			q    string
			want []string
		}{
			{"ada", []string{"Ada Lovelace", "Adam Smith"}},
			{"ADA ", []string{"Ada Lovelace", "Adam Smith"}},
			{"love", []string{"Ada Lovelace"}},
			{"e h", []string{"Grace Hopper"}},
			{"a", []string{"Ada Lovelace", "Grace Hopper", "Adam Smith", "Ola Nordmann"}},
			{"li", []string{"Li"}},
			{"Li", []string{"Li"}},
			{"0%", []string{"100% Cotton_Co"}},
			{"% c", []string{"100% Cotton_Co"}},
			{"n_c", []string{"100% Cotton_Co"}},
			{"ngström", []string{"Zoë Ångström"}},
			{"zoë", []string{"Zoë Ångström"}},
			{"nomatch", nil},
			{"adaa", nil},
		}
		for _, c := range cases {
			var want []string
			for _, name := range c.want {
				want = append(want, ids[name])
			}
			slices.Sort(want)
			p, r := e.api.list(url.Values{"q": {c.q}, "limit": {"100"}})
			if r.status != 200 {
				t.Fatalf("search %q: %d %s", c.q, r.status, r.body)
			}
			got := slices.Clone(p.ids)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("search %q: got %d orders %v, want %v", c.q, len(got), got, want)
			}
		}
	})
}
