package order

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	"time"
)

// EventSchema is one schema version of an event type's payload: what Decode
// reads for that type and version. EventSchemas lists them all, so that the
// event catalog is drawn from the types the code decodes into rather than
// from a description kept beside them (schemas_test.go holds the list to
// Decode and to the package's Payload types).
type EventSchema struct {
	// Type is the event type, e.g. "OrderPlaced".
	Type string
	// Version is the schema version; the type's current one is its
	// Payload's SchemaVersion.
	Version int
	// Example is a value of the Go type this version's JSON decodes into,
	// filled in as an example: its fields are the version's fields (by
	// their json tags), and its JSON an example payload.
	Example any
	// Upcast says, for an older version, how Decode reads it in the
	// current shape; empty for the current version.
	Upcast string
}

// EventMeanings say what each event type means.
var EventMeanings = map[string]string{
	"OrderPlaced":       "A new order was placed: who ordered what, and where it goes.",
	"OrderLinesChanged": "The lines of a placed order were replaced by new ones.",
	"OrderShipped":      "The order left the warehouse.",
	"OrderDelivered":    "The order reached the customer.",
	"OrderCancelled":    "The order was cancelled before it shipped.",
	"OrderDeleted":      "The order was removed.",
}

// FieldMeanings say what each payload field means, by its JSON name; a
// field of a nested object or list is named by its path ("lines[].sku").
var FieldMeanings = map[string]string{
	"customer":                 "The customer's name.",
	"address":                  "The shipping address.",
	"currency":                 "ISO 4217 code of the prices, e.g. USD.",
	"lines":                    "The order's lines, 1 to 50.",
	"lines[].sku":              "Stock-keeping unit of the product.",
	"lines[].name":             "Product name as shown to the customer.",
	"lines[].quantity":         "How many, 1 to 1000.",
	"lines[].unit_price_cents": "Price of one unit, in cents of the order's currency.",
	"reason":                   "Why the order was cancelled; may be empty.",
}

var exampleLines = []Line{
	{SKU: "TEA-01", Name: "Green tea", Quantity: 2, UnitPriceCents: 1250},
	{SKU: "CUP-02", Name: "Tea cup", Quantity: 1, UnitPriceCents: 899},
}

// EventSchemas lists every schema version of every event type that Decode
// reads, by type in the order an order's life goes, oldest version first.
func EventSchemas() []EventSchema {
	return []EventSchema{
		{Type: "OrderPlaced", Version: 1, Example: orderPlacedV1{Customer: "Ada Lovelace", Address: "12 Loop Road, Springfield", Lines: exampleLines},
			Upcast: "read as version 2 with currency " + DefaultCurrency + ", the shop's default"},
		{Type: "OrderPlaced", Version: 2, Example: OrderPlaced{Customer: "Ada Lovelace", Address: "12 Loop Road, Springfield", Currency: DefaultCurrency, Lines: exampleLines}},
		{Type: "OrderLinesChanged", Version: 1, Example: OrderLinesChanged{Lines: exampleLines[:1]}},
		{Type: "OrderShipped", Version: 1, Example: OrderShipped{}},
		{Type: "OrderDelivered", Version: 1, Example: OrderDelivered{}},
		{Type: "OrderCancelled", Version: 1, Example: OrderCancelled{Reason: "The customer changed their mind."}},
		{Type: "OrderDeleted", Version: 1, Example: OrderDeleted{}},
	}
}

// EventTypes lists the event types, in the order of EventSchemas.
func EventTypes() []string {
	var out []string
	for _, s := range EventSchemas() {
		if len(out) == 0 || out[len(out)-1] != s.Type {
			out = append(out, s.Type)
		}
	}
	return out
}

// CurrentSchema returns the schema version the code writes for an event
// type, 0 for a type it does not know.
func CurrentSchema(eventType string) int {
	v := 0
	for _, s := range EventSchemas() {
		if s.Type == eventType && s.Upcast == "" {
			v = s.Version
		}
	}
	return v
}

// JSONField is one field of a JSON object as encoding/json writes a Go
// value: its name (a nested field by its path, "lines[].sku") and its JSON
// type ("string", "integer", "number", "boolean", "object", "array of
// objects", …).
type JSONField struct {
	Name, Type string
}

// Fields lists the fields of the schema's payload, from its Go type.
func (s EventSchema) Fields() []JSONField { return JSONFields(s.Example) }

// JSONFields lists the fields encoding/json writes for a value of v's
// struct type, nested ones after their parent, in declaration order; nil
// for a value that is no struct.
func JSONFields(v any) []JSONField {
	t := reflect.TypeOf(v)
	if t == nil {
		return nil
	}
	return appendFields(nil, t, "")
}

var (
	timeType      = reflect.TypeOf(time.Time{})
	rawJSONType   = reflect.TypeOf(json.RawMessage{})
	marshalerType = reflect.TypeOf((*encoding.TextMarshaler)(nil)).Elem()
)

func appendFields(out []JSONField, t reflect.Type, prefix string) []JSONField {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return out
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		full := prefix + name
		typ, elem := jsonType(f.Type)
		out = append(out, JSONField{Name: full, Type: typ})
		switch {
		case typ == "object":
			out = appendFields(out, f.Type, full+".")
		case elem != nil:
			out = appendFields(out, elem, full+"[].")
		}
	}
	return out
}

// jsonType names the JSON type of a Go type; for an array of objects it
// also returns the element's type, whose fields follow.
func jsonType(t reflect.Type) (string, reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return "string (RFC 3339 time)", nil
	case t == rawJSONType:
		return "object (the payload)", nil
	case t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType):
		if t.Kind() == reflect.Array && t.Elem().Kind() == reflect.Uint8 && t.Len() == 16 {
			return "string (UUID)", nil
		}
		return "string", nil
	}
	switch t.Kind() {
	case reflect.String:
		return "string", nil
	case reflect.Bool:
		return "boolean", nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer", nil
	case reflect.Float32, reflect.Float64:
		return "number", nil
	case reflect.Struct, reflect.Map:
		return "object", nil
	case reflect.Slice, reflect.Array:
		e := t.Elem()
		for e.Kind() == reflect.Pointer {
			e = e.Elem()
		}
		typ, _ := jsonType(e)
		if typ == "object" {
			return "array of objects", e
		}
		return "array of " + typ + "s", nil
	}
	return t.Kind().String(), nil
}
