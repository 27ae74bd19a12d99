package web

import (
	"encoding/json"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

func testChrome() Chrome {
	return Chrome{
		Title:     "Orders",
		ActiveNav: "orders",
		Stage:     StageBadge{Number: 1, Name: "Split models"},
		Stages: []StageOption{
			{Number: 0, Label: "0 · One model"},
			{Number: 1, Label: "1 · Split models", Selected: true},
		},
		CSRFToken: "tok-123",
	}
}

func TestLayout(t *testing.T) {
	t.Run("csrf_token_is_sent_as_escaped_json_in_hx_headers", func(t *testing.T) {
		ch := testChrome()
		ch.CSRFToken = `a"b'c</script><img src=x>`
		doc := render(t, Layout(ch, templ.NopComponent))

		raw, ok := doc.Find("body").Attr("hx-headers")
		if !ok {
			t.Fatal("body has no hx-headers")
		}
		var headers map[string]string
		if err := json.Unmarshal([]byte(raw), &headers); err != nil {
			t.Fatalf("hx-headers is not JSON: %v (%q)", err, raw)
		}
		if headers["X-CSRF-Token"] != ch.CSRFToken {
			t.Errorf("X-CSRF-Token = %q, want %q", headers["X-CSRF-Token"], ch.CSRFToken)
		}
		assertAttr(t, doc.Find("body"), "hx-boost", "true")
		assertCount(t, doc, "img", 0)
	})

	t.Run("head_loads_local_assets_and_htmx_config", func(t *testing.T) {
		doc := render(t, Layout(testChrome(), templ.NopComponent))

		for _, src := range []string{"/static/htmx.min.js", "/static/sse.js", "/static/app.js"} {
			assertCount(t, doc, `script[src="`+src+`"]`, 1)
		}
		assertCount(t, doc, `link[rel="stylesheet"][href="/static/app.css"]`, 1)
		assertCount(t, doc, `meta[name="viewport"]`, 1)
		cfg, _ := doc.Find(`meta[name="htmx-config"]`).Attr("content")
		var parsed struct {
			IncludeIndicatorStyles *bool `json:"includeIndicatorStyles"`
			ResponseHandling       []struct {
				Code string `json:"code"`
				Swap bool   `json:"swap"`
			} `json:"responseHandling"`
		}
		if err := json.Unmarshal([]byte(cfg), &parsed); err != nil {
			t.Fatalf("htmx-config is not JSON: %v", err)
		}
		if parsed.IncludeIndicatorStyles == nil || *parsed.IncludeIndicatorStyles {
			t.Error("includeIndicatorStyles must be false")
		}
		swaps := map[string]bool{}
		for _, r := range parsed.ResponseHandling {
			swaps[r.Code] = r.Swap
		}
		if !swaps["422"] || !swaps["409"] {
			t.Errorf("422 and 409 must swap: %v", swaps)
		}
		assertText(t, doc.Find("title"), "Orders · Staircase")
		assertCSPSafe(t, doc)
	})

	t.Run("active_nav_link_is_marked_current", func(t *testing.T) {
		for _, nav := range []string{"orders", "new", "dashboard", "architecture"} {
			ch := testChrome()
			ch.ActiveNav = nav
			doc := render(t, Layout(ch, templ.NopComponent))
			current := doc.Find(`nav a[aria-current="page"]`)
			if current.Length() != 1 {
				t.Fatalf("%s: %d current links", nav, current.Length())
			}
			assertAttr(t, current, "data-testid", "nav-"+nav)
		}
	})

	t.Run("stage_badge_and_switcher", func(t *testing.T) {
		doc := render(t, Layout(testChrome(), templ.NopComponent))

		assertText(t, byTestID(doc, "stage-badge"), "Stage 1 · Split models")
		form := byTestID(doc, "stage-switcher")
		assertAttr(t, form, "method", "post")
		assertAttr(t, form, "action", "/stage")
		assertAttr(t, form.Find(`input[name="_csrf"]`), "value", "tok-123")
		assertAttr(t, form.Find(`select[name="stage"] option[selected]`), "value", "1")
		id, _ := form.Find(`select[name="stage"]`).Attr("id")
		assertCount(t, doc, `label[for="`+id+`"]`, 1)
	})

	t.Run("no_switcher_without_stages", func(t *testing.T) {
		ch := testChrome()
		ch.Stages = nil
		doc := render(t, Layout(ch, templ.NopComponent))
		assertTestIDCount(t, doc, "stage-switcher", 0)
	})

	t.Run("flash_is_a_status_message", func(t *testing.T) {
		ch := testChrome()
		doc := render(t, Layout(ch, templ.NopComponent))
		assertTestIDCount(t, doc, "flash", 0)

		ch.Flash = "Order placed."
		doc = render(t, Layout(ch, templ.NopComponent))
		assertText(t, byTestID(doc, "flash"), "Order placed.")
		assertAttr(t, byTestID(doc, "flash"), "role", "status")
		assertCount(t, doc, "main#main", 1)
	})
}

func TestErrorPage(t *testing.T) {
	doc := render(t, ErrorPage(testChrome(), 404, "Order not found", "There is no order <b>42</b>."))

	assertText(t, byTestID(doc, "error-title"), "Order not found")
	assertText(t, byTestID(doc, "error-message"), "There is no order <b>42</b>.")
	assertCount(t, doc, "main b", 0)
	assertAttr(t, byTestID(doc, "back-to-orders"), "href", "/orders")
	assertCSPSafe(t, doc)
}

func TestEveryPostFormCarriesTheCSRFToken(t *testing.T) {
	ch := testChrome()
	pages := map[string]templ.Component{
		"orders":       OrdersPage(ch, OrdersList{}),
		"new_order":    NewOrderPage(ch, OrderForm{Lines: []LineInput{{}}}),
		"edit_lines":   EditLinesPage(ch, OrderForm{Lines: []LineInput{{}}, ExpectedVersion: 2}),
		"order_detail": OrderDetailPage(ch, allowAll(sampleDetail())),
		"dashboard":    DashboardPage(ch, Dashboard{}),
		"error":        ErrorPage(ch, 500, "Oops", ""),
	}
	for name, page := range pages {
		t.Run(name, func(t *testing.T) {
			doc := render(t, page)
			doc.Find(`form[method="post"]`).Each(func(i int, form *goquery.Selection) {
				token := form.Find(`input[type="hidden"][name="_csrf"]`)
				if v, _ := token.Attr("value"); v != ch.CSRFToken {
					action, _ := form.Attr("action")
					t.Errorf("form %d (%s): _csrf = %q, want %q", i, action, v, ch.CSRFToken)
				}
			})
			assertCSPSafe(t, doc)
		})
	}
}
