package order

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Cursor is a position in the newest-first list of orders: the created time
// and ID of the last order of a page (keyset pagination).
type Cursor struct {
	CreatedAt time.Time
	ID        ID
}

// Encode returns the cursor as an opaque URL-safe string.
func (c Cursor) Encode() string {
	raw := strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + "." + c.ID.String()
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// DecodeCursor reads a cursor made by Encode.
func DecodeCursor(s string) (Cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, err
	}
	ts, id, ok := strings.Cut(string(raw), ".")
	if !ok {
		return Cursor{}, errors.New("malformed cursor")
	}
	us, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Cursor{}, err
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return Cursor{}, err
	}
	at := time.UnixMicro(us).UTC()
	// No order was made outside these years, and PostgreSQL refuses
	// timestamps far past them.
	if at.Year() < 1 || at.Year() > 9999 {
		return Cursor{}, errors.New("cursor time out of range")
	}
	return Cursor{CreatedAt: at, ID: u}, nil
}
