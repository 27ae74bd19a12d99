package order

import "sort"

// CustomerSum is what one customer spent in one currency on orders that are
// not cancelled: the row a dashboard query adds up.
type CustomerSum struct {
	Customer string
	Currency string
	Orders   int
	Cents    int64
}

// Rank folds customer sums into the revenue per currency and the customers
// with the most orders (then the most spend, then by name), at most
// TopCustomersLimit of them.
func Rank(sums []CustomerSum) (Money, []CustomerTotal) {
	revenue := Money{}
	by := map[string]*CustomerTotal{}
	var names []string
	for _, s := range sums {
		revenue[s.Currency] += s.Cents
		ct := by[s.Customer]
		if ct == nil {
			ct = &CustomerTotal{Customer: s.Customer, Revenue: Money{}}
			by[s.Customer] = ct
			names = append(names, s.Customer)
		}
		ct.Orders += s.Orders
		ct.Revenue[s.Currency] += s.Cents
	}
	tops := make([]CustomerTotal, 0, len(names))
	for _, n := range names {
		tops = append(tops, *by[n])
	}
	sort.SliceStable(tops, func(i, j int) bool {
		if tops[i].Orders != tops[j].Orders {
			return tops[i].Orders > tops[j].Orders
		}
		if ti, tj := tops[i].Revenue.Sum(), tops[j].Revenue.Sum(); ti != tj {
			return ti > tj
		}
		return tops[i].Customer < tops[j].Customer
	})
	if len(tops) > TopCustomersLimit {
		tops = tops[:TopCustomersLimit]
	}
	return revenue, tops
}

// Sum adds the amounts of every currency: only for ranking, never to show.
func (m Money) Sum() int64 {
	var t int64
	for _, v := range m {
		t += v
	}
	return t
}
