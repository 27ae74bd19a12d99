package order

import (
	"testing"
	"time"
)

func TestPage(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))
	rows := func(n int) []Summary {
		out := make([]Summary, n)
		for i := range out {
			out[i] = Summary{ID: NewID(), CreatedAt: at.Add(-time.Duration(i) * time.Minute), UpdatedAt: at}
		}
		return out
	}
	cases := []struct {
		name     string
		rows     int
		wantLen  int
		wantNext bool
	}{
		{"no_rows_is_an_empty_last_page", 0, 0, false},
		{"fewer_rows_than_the_limit_is_the_last_page", 2, 2, false},
		{"exactly_the_limit_is_the_last_page", 3, 3, false},
		{"one_row_more_than_the_limit_means_a_next_page", 4, 3, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := rows(c.rows)
			p := Page(in, 3, ReadModel)
			if p.Orders == nil || len(p.Orders) != c.wantLen || (p.Next != "") != c.wantNext || p.Source != ReadModel {
				t.Fatalf("page of %d rows: %d orders, next %q", c.rows, len(p.Orders), p.Next)
			}
			if c.wantNext {
				cur, err := DecodeCursor(p.Next)
				if err != nil || cur.ID != in[2].ID || !cur.CreatedAt.Equal(in[2].CreatedAt) {
					t.Fatalf("cursor %+v %v, want the last kept row", cur, err)
				}
			}
			for _, o := range p.Orders {
				if o.CreatedAt.Location() != time.UTC || o.UpdatedAt.Location() != time.UTC {
					t.Fatal("times not in UTC")
				}
			}
		})
	}
}
