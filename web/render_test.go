package web

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

// render renders c and parses the result as an HTML document.
func render(t *testing.T, c templ.Component) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	doc, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc
}

func byTestID(doc *goquery.Document, id string) *goquery.Selection {
	return doc.Find(`[data-testid="` + id + `"]`)
}

func assertCount(t *testing.T, doc *goquery.Document, selector string, want int) {
	t.Helper()
	if got := doc.Find(selector).Length(); got != want {
		t.Errorf("%s: found %d, want %d", selector, got, want)
	}
}

func assertTestIDCount(t *testing.T, doc *goquery.Document, id string, want int) {
	t.Helper()
	if got := byTestID(doc, id).Length(); got != want {
		t.Errorf("data-testid=%q: found %d, want %d", id, got, want)
	}
}

func assertText(t *testing.T, sel *goquery.Selection, want string) {
	t.Helper()
	if sel.Length() == 0 {
		t.Errorf("want text %q, element missing", want)
		return
	}
	if got := strings.TrimSpace(sel.First().Text()); got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
}

func assertAttr(t *testing.T, sel *goquery.Selection, name, want string) {
	t.Helper()
	got, ok := sel.Attr(name)
	if !ok {
		t.Errorf("attribute %s missing, want %q", name, want)
		return
	}
	if got != want {
		t.Errorf("attribute %s = %q, want %q", name, got, want)
	}
}

// assertCSPSafe fails when the document holds anything that "script-src 'self'; style-src
// 'self'" would block: style attributes, inline scripts or styles, inline event handlers.
func assertCSPSafe(t *testing.T, doc *goquery.Document) {
	t.Helper()
	doc.Find("*").Each(func(_ int, s *goquery.Selection) {
		node := s.Get(0)
		for _, a := range node.Attr {
			name := strings.ToLower(a.Key)
			switch {
			case name == "style":
				t.Errorf("<%s> has a style attribute", node.Data)
			case strings.HasPrefix(name, "on"):
				t.Errorf("<%s> has an inline handler %s", node.Data, name)
			case strings.HasPrefix(name, "hx-on"), strings.HasPrefix(name, "data-hx-on"):
				t.Errorf("<%s> has %s, which needs eval", node.Data, name)
			case strings.HasPrefix(strings.TrimSpace(strings.ToLower(a.Val)), "javascript:"):
				t.Errorf("<%s> %s is a javascript: URL", node.Data, name)
			}
		}
	})
	doc.Find("script").Each(func(_ int, s *goquery.Selection) {
		if _, ok := s.Attr("src"); !ok {
			t.Errorf("inline <script>: %q", s.Text())
		}
		if strings.TrimSpace(s.Text()) != "" {
			t.Errorf("<script> with a body: %q", s.Text())
		}
	})
	if n := doc.Find("style").Length(); n > 0 {
		t.Errorf("found %d <style> elements", n)
	}
}
