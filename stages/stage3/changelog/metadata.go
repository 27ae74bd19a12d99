package changelog

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
)

// Metadata travels with the events of a change, from the change log to
// the bus, the way a Watermill outbox keeps a message's metadata: whoever
// makes the change puts it in the context (WithMetadata), Append records
// it with each row in the change's transaction, and the relay puts it on
// each event's message. It is how the trace context of the request that
// made a change reaches the relay and the projector, which may run in
// another process, or after a restart.

type metadataKey struct{}

// WithMetadata returns ctx carrying md for the events Append records in
// it, added to any metadata ctx carries already (md's values win).
func WithMetadata(ctx context.Context, md map[string]string) context.Context {
	if old, _ := ctx.Value(metadataKey{}).(map[string]string); len(old) > 0 {
		merged := make(map[string]string, len(old)+len(md))
		for k, v := range old {
			merged[k] = v
		}
		for k, v := range md {
			merged[k] = v
		}
		md = merged
	}
	return context.WithValue(ctx, metadataKey{}, md)
}

// encodeMetadata is the metadata ctx carries as a column value: NULL for
// none.
func encodeMetadata(ctx context.Context) (sql.NullString, error) {
	md, _ := ctx.Value(metadataKey{}).(map[string]string)
	if len(md) == 0 {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(md)
	if err != nil {
		return sql.NullString{}, fmt.Errorf("encode the change's metadata: %w", err)
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

// decodeMetadata reads a metadata column; what is not a JSON object of
// strings counts as none (metadata only ever helps: an event is relayed
// without it).
func decodeMetadata(s sql.NullString) map[string]string {
	if !s.Valid || s.String == "" {
		return nil
	}
	var md map[string]string
	if json.Unmarshal([]byte(s.String), &md) != nil || len(md) == 0 {
		return nil
	}
	return md
}
