package order_test

import (
	"strings"
	"testing"

	"github.com/staircase/staircase/internal/order"
)

func TestSummaryQueryNormalize(t *testing.T) {
	cursor := order.Cursor{CreatedAt: stored(t0), ID: orderID}.Encode()
	tests := []struct {
		name   string
		q      order.SummaryQuery
		want   order.SummaryQuery // when fields is nil
		fields []string
	}{
		{name: "empty_query_gets_default_limit", q: order.SummaryQuery{},
			want: order.SummaryQuery{Limit: order.DefaultPage}},
		{name: "limit_1_is_kept", q: order.SummaryQuery{Limit: 1}, want: order.SummaryQuery{Limit: 1}},
		{name: "limit_100_is_kept", q: order.SummaryQuery{Limit: order.MaxPage}, want: order.SummaryQuery{Limit: 100}},
		{name: "limit_101_is_rejected", q: order.SummaryQuery{Limit: order.MaxPage + 1}, fields: []string{"limit"}},
		{name: "negative_limit_is_rejected", q: order.SummaryQuery{Limit: -1}, fields: []string{"limit"}},
		{name: "every_status_is_accepted", q: order.SummaryQuery{Status: order.Delivered, Limit: 5},
			want: order.SummaryQuery{Status: order.Delivered, Limit: 5}},
		{name: "unknown_status_is_rejected", q: order.SummaryQuery{Status: "lost"}, fields: []string{"status"}},
		{name: "upper_case_status_is_rejected", q: order.SummaryQuery{Status: "SHIPPED"}, fields: []string{"status"}},
		{name: "search_text_is_kept", q: order.SummaryQuery{Q: "ada"}, want: order.SummaryQuery{Q: "ada", Limit: 20}},
		{name: "search_of_200_characters_is_accepted", q: order.SummaryQuery{Q: strings.Repeat("a", 200)},
			want: order.SummaryQuery{Q: strings.Repeat("a", 200), Limit: 20}},
		{name: "search_of_200_non_ascii_characters_is_accepted", q: order.SummaryQuery{Q: strings.Repeat("é", 200)},
			want: order.SummaryQuery{Q: strings.Repeat("é", 200), Limit: 20}},
		{name: "search_of_201_characters_is_rejected", q: order.SummaryQuery{Q: strings.Repeat("a", 201)}, fields: []string{"q"}},
		{name: "search_with_nul_is_rejected", q: order.SummaryQuery{Q: "a\x00b"}, fields: []string{"q"}},
		{name: "search_with_invalid_utf8_is_rejected", q: order.SummaryQuery{Q: "a\xffb"}, fields: []string{"q"}},
		{name: "cursor_from_encode_is_accepted", q: order.SummaryQuery{After: cursor}, want: order.SummaryQuery{After: cursor, Limit: 20}},
		{name: "bad_cursor_is_rejected", q: order.SummaryQuery{After: "garbage!"}, fields: []string{"after"}},
		{name: "every_error_is_reported", q: order.SummaryQuery{Status: "lost", Q: strings.Repeat("a", 201), Limit: 1000, After: "x"},
			fields: []string{"status", "q", "limit", "after"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.q.Normalize()
			if tc.fields != nil {
				wantInvalid(t, err, tc.fields...)
				if msg := order.ErrorMessage(err); msg != "the query is not valid" {
					t.Errorf("ErrorMessage = %q", msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if got != tc.want {
				t.Fatalf("Normalize = %+v, want %+v", got, tc.want)
			}
		})
	}
}
