package web

import "testing"

func TestDashboardPage(t *testing.T) {
	t.Run("shows_counts_revenue_and_top_customers", func(t *testing.T) {
		d := Dashboard{
			Counts: []StatusCount{
				{Status: "placed", Label: "Placed", Count: 4},
				{Status: "shipped", Label: "Shipped", Count: 2},
				{Status: "delivered", Label: "Delivered", Count: 7},
				{Status: "cancelled", Label: "Cancelled", Count: 1},
			},
			Orders: 14, Revenue: "$1,234.50",
			TopCustomers: []CustomerRow{{Name: hostileName, Orders: 3, Revenue: "$99.00"}, {Name: "Grace", Orders: 2, Revenue: "$50.00"}},
			Source:       "read model · stage 1",
		}
		doc := render(t, DashboardPage(testChrome(), d))

		counts := []struct {
			status string
			want   string
		}{{"placed", "4"}, {"shipped", "2"}, {"delivered", "7"}, {"cancelled", "1"}}
		for _, c := range counts {
			assertText(t, byTestID(doc, "count-"+c.status).Find(".card-value"), c.want)
			assertAttr(t, byTestID(doc, "count-"+c.status).Find(`[data-testid="status-badge"]`), "class", "badge badge-"+c.status)
		}
		assertText(t, byTestID(doc, "revenue"), "$1,234.50")
		assertText(t, byTestID(doc, "orders-count").Find(".card-value"), "14")
		assertTestIDCount(t, doc, "customer-row", 2)
		assertCount(t, doc, "img", 0)
		assertText(t, byTestID(doc, "customer-row").First().Find("td"), hostileName)
		assertText(t, byTestID(doc, "source"), "read from read model · stage 1")
		assertCSPSafe(t, doc)
	})

	t.Run("no_customers_yet", func(t *testing.T) {
		doc := render(t, DashboardPage(testChrome(), Dashboard{Revenue: "$0.00"}))
		assertTestIDCount(t, doc, "top-customers", 0)
		assertTestIDCount(t, doc, "no-customers", 1)
	})
}
