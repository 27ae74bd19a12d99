package stage3

import (
	"bytes"
	"encoding/json"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/stages/stage3/changelog"
)

// EventCatalog describes every event type the stage records: the envelope
// the bus carries, and each type's schema versions with their fields and
// an example payload. It is drawn from the code — the Go types the
// payloads and the envelope decode into (order.EventSchemas, by
// reflection) and the upcaster (order.Decode) — so it shows what the code
// reads, not what someone wrote down about it.
func (s *Stage) EventCatalog() stageview.EventCatalog { return Catalog() }

// Catalog is the event catalog (see EventCatalog).
func Catalog() stageview.EventCatalog {
	var cat stageview.EventCatalog
	for _, f := range order.JSONFields(changelog.EnvelopeExample(nil)) {
		cat.Envelope = append(cat.Envelope, stageview.CatalogField{Name: f.Name, Type: f.Type, Meaning: changelog.EnvelopeMeanings[f.Name]})
	}
	for _, sc := range order.EventSchemas() {
		if n := len(cat.Types); n == 0 || cat.Types[n-1].Name != sc.Type {
			cat.Types = append(cat.Types, stageview.CatalogType{Name: sc.Type, Meaning: order.EventMeanings[sc.Type], Current: order.CurrentSchema(sc.Type)})
		}
		t := &cat.Types[len(cat.Types)-1]
		schema := stageview.CatalogSchema{Version: sc.Version, UpcastNote: sc.Upcast}
		for _, f := range sc.Fields() {
			schema.Fields = append(schema.Fields, stageview.CatalogField{Name: f.Name, Type: f.Type, Meaning: order.FieldMeanings[f.Name]})
		}
		example, err := json.Marshal(sc.Example)
		if err == nil {
			schema.Example = indent(example)
			if sc.Upcast != "" {
				// What the upcaster makes of it, through the code that reads
				// the change log and the bus.
				if p, err := order.Decode(sc.Type, sc.Version, example); err == nil {
					if b, err := json.Marshal(p); err == nil {
						schema.Upcast = indent(b)
					}
				}
			}
		}
		t.Schemas = append(t.Schemas, schema)
	}
	return cat
}

// indent lays JSON out on lines, for people.
func indent(b []byte) string {
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return string(b)
	}
	return out.String()
}
