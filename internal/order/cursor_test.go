package order_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/staircase/staircase/internal/order"
)

func TestCursorRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		cursor order.Cursor
	}{
		{"utc_time_round_trips", order.Cursor{CreatedAt: time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC), ID: orderID}},
		{"time_in_other_zone_round_trips_as_utc", order.Cursor{CreatedAt: stored(t0).In(time.FixedZone("PST", -8*3600)), ID: orderID}},
		{"time_before_1970_round_trips", order.Cursor{CreatedAt: time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC), ID: orderID}},
		{"nil_id_round_trips", order.Cursor{CreatedAt: stored(t0)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.cursor.Encode()
			if _, err := base64.RawURLEncoding.DecodeString(s); err != nil {
				t.Fatalf("Encode = %q is not URL-safe base64: %v", s, err)
			}
			got, err := order.DecodeCursor(s)
			if err != nil {
				t.Fatalf("DecodeCursor(%q): %v", s, err)
			}
			if !got.CreatedAt.Equal(tc.cursor.CreatedAt) || got.ID != tc.cursor.ID {
				t.Fatalf("DecodeCursor = %+v, want %+v", got, tc.cursor)
			}
			if got.CreatedAt.Location() != time.UTC {
				t.Errorf("decoded time is in %v, want UTC", got.CreatedAt.Location())
			}
		})
	}

	t.Run("nanoseconds_are_truncated_to_microseconds", func(t *testing.T) {
		got, err := order.DecodeCursor(order.Cursor{CreatedAt: t0, ID: orderID}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if !got.CreatedAt.Equal(stored(t0)) {
			t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, stored(t0))
		}
	})
}

func TestDecodeCursorRejectsGarbage(t *testing.T) {
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	id := uuid.MustParse("01959a3c-6f1e-7b2a-9c3d-4e5f60718293").String()
	tests := []struct {
		name string
		in   string
	}{
		{"empty_string_is_rejected", ""},
		{"not_base64_is_rejected", "!!!not base64!!!"},
		{"padded_base64_is_rejected", base64.URLEncoding.EncodeToString([]byte("1741940813589793." + id))},
		{"base64_without_dot_is_rejected", b64("1741940813589793" + id)},
		{"non_numeric_time_is_rejected", b64("yesterday." + id)},
		{"empty_time_is_rejected", b64("." + id)},
		{"bad_uuid_is_rejected", b64("1741940813589793.not-a-uuid")},
		{"empty_uuid_is_rejected", b64("1741940813589793.")},
		{"extra_part_is_rejected", b64("1741940813589793." + id + ".x")},
		{"html_payload_is_rejected", b64(`<img src=x onerror=alert(1)>`)},
		{"plain_uuid_is_rejected", id},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := order.DecodeCursor(tc.in); err == nil {
				t.Fatalf("DecodeCursor(%q) = %+v, want an error", tc.in, c)
			}
		})
	}
}
