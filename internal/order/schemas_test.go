package order_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/staircase/staircase/internal/order"
)

// TestEventSchemasAreWhatDecodeReads holds the schema list to Decode: every
// listed version decodes its example, an old one into the current shape,
// and no version beyond the list decodes at all.
func TestEventSchemasAreWhatDecodeReads(t *testing.T) {
	listed := map[string][]int{}
	for _, s := range order.EventSchemas() {
		listed[s.Type] = append(listed[s.Type], s.Version)
		data, err := json.Marshal(s.Example)
		if err != nil {
			t.Fatalf("%s v%d: marshal the example: %v", s.Type, s.Version, err)
		}
		p, err := order.Decode(s.Type, s.Version, data)
		if err != nil {
			t.Errorf("%s v%d is listed but Decode refuses its example %s: %v", s.Type, s.Version, data, err)
			continue
		}
		if p.EventType() != s.Type {
			t.Errorf("%s v%d decodes into a %s", s.Type, s.Version, p.EventType())
		}
		current := s.Version == p.SchemaVersion()
		if current != (s.Upcast == "") {
			t.Errorf("%s v%d: current %v but upcast note %q", s.Type, s.Version, current, s.Upcast)
		}
		if current && !reflect.DeepEqual(p, s.Example) {
			t.Errorf("%s v%d: Decode(example) = %#v, want the example %#v", s.Type, s.Version, p, s.Example)
		}
		if order.CurrentSchema(s.Type) != p.SchemaVersion() {
			t.Errorf("CurrentSchema(%s) = %d, the payload writes %d", s.Type, order.CurrentSchema(s.Type), p.SchemaVersion())
		}
	}
	for typ, versions := range listed {
		for v := 0; v <= 9; v++ {
			if slices.Contains(versions, v) {
				continue
			}
			if _, err := order.Decode(typ, v, []byte(`{}`)); err == nil {
				t.Errorf("Decode reads %s v%d, which EventSchemas does not list", typ, v)
			}
		}
	}
}

// TestEveryPayloadTypeIsListed reads the package's source: every type with
// an EventType method is a payload, and must be in EventSchemas at its
// current version.
func TestEveryPayloadTypeIsListed(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var payloads []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), e.Name(), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || fn.Name.Name != "EventType" {
				continue
			}
			if id, ok := fn.Recv.List[0].Type.(*ast.Ident); ok {
				payloads = append(payloads, id.Name)
			}
		}
	}
	if len(payloads) < 6 {
		t.Fatalf("found %d payload types in the source, want at least 6: %v", len(payloads), payloads)
	}
	types := order.EventTypes()
	for _, name := range payloads {
		if !slices.Contains(types, name) {
			t.Errorf("payload type %s is not in EventSchemas: the event catalog would not show it", name)
		}
		if _, ok := order.EventMeanings[name]; !ok {
			t.Errorf("event type %s has no meaning in EventMeanings", name)
		}
	}
	if len(types) != len(payloads) {
		t.Errorf("EventSchemas lists %d types, the source has %d payload types: %v vs %v", len(types), len(payloads), types, payloads)
	}
}

// TestEveryFieldHasAMeaning: a field added to a payload shows in the
// catalog from its Go type; it must say what it means, too.
func TestEveryFieldHasAMeaning(t *testing.T) {
	for _, s := range order.EventSchemas() {
		for _, f := range s.Fields() {
			if order.FieldMeanings[f.Name] == "" {
				t.Errorf("%s v%d: field %s (%s) has no meaning in FieldMeanings", s.Type, s.Version, f.Name, f.Type)
			}
		}
	}
}

func TestJSONFields(t *testing.T) {
	type inner struct {
		A int    `json:"a"`
		B string `json:"b,omitempty"`
	}
	type shape struct {
		Name   string            `json:"name"`
		Skip   string            `json:"-"`
		hidden string            //nolint:unused
		Items  []inner           `json:"items"`
		Tags   []string          `json:"tags"`
		Nested inner             `json:"nested"`
		Price  float64           `json:"price"`
		Meta   map[string]string `json:"meta"`
		OK     bool
	}
	_ = shape{}.hidden
	got := order.JSONFields(shape{})
	want := []order.JSONField{
		{"name", "string"}, {"items", "array of objects"}, {"items[].a", "integer"}, {"items[].b", "string"},
		{"tags", "array of strings"}, {"nested", "object"}, {"nested.a", "integer"}, {"nested.b", "string"},
		{"price", "number"}, {"meta", "object"}, {"OK", "boolean"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("JSONFields = %v\nwant %v", got, want)
	}
	placed := order.JSONFields(order.OrderPlaced{})
	var names []string
	for _, f := range placed {
		names = append(names, f.Name)
	}
	if strings.Join(names, " ") != "customer address currency lines lines[].sku lines[].name lines[].quantity lines[].unit_price_cents" {
		t.Fatalf("OrderPlaced fields = %v", names)
	}
}
