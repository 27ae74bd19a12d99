package acceptance

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// browser is a cookie-keeping client of the BFF's pages, posting forms as
// a browser without JavaScript would.
type browser struct{ e *env }

func (b browser) page(t *testing.T, path string) (*goquery.Document, response) {
	t.Helper()
	r := b.e.do(http.MethodGet, path, "", nil)
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	return doc, r
}

func (b browser) post(t *testing.T, path string, form url.Values) (*goquery.Document, response) {
	t.Helper()
	r := b.e.do(http.MethodPost, path, "application/x-www-form-urlencoded", form.Encode())
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	return doc, r
}

func csrfToken(t *testing.T, doc *goquery.Document) string {
	t.Helper()
	tok, ok := doc.Find(`input[name="_csrf"]`).First().Attr("value")
	if !ok || tok == "" {
		t.Fatal("page has no CSRF token")
	}
	return tok
}

func orderForm(token, id, customer string, lines ...[4]string) url.Values {
	f := url.Values{"_csrf": {token}, "id": {id}, "customer": {customer}, "address": {"1 Page Street"}}
	for _, l := range lines {
		f.Add("sku", l[0])
		f.Add("name", l[1])
		f.Add("quantity", l[2])
		f.Add("unit_price", l[3])
	}
	return f
}

func TestPagesPlaceShipAndList(t *testing.T) {
	forEachStage(t, func(t *testing.T, e *env) {
		b := browser{e}
		doc, r := b.page(t, "/orders/new")
		if r.status != http.StatusOK {
			t.Fatalf("new order page: %d", r.status)
		}
		if got := doc.Find(`[data-testid="stage-badge"]`).Text(); !strings.Contains(got, "Stage "+strconv.Itoa(e.stage)) {
			t.Fatalf("stage badge %q", got)
		}
		id, _ := doc.Find(`input[name="id"]`).Attr("value")
		if _, err := url.Parse(id); err != nil || len(id) != 36 {
			t.Fatalf("form carries no order ID: %q", id)
		}
		form := orderForm(csrfToken(t, doc), id, "Page Customer", [4]string{"TEA-01", "Green tea", "2", "12.50"}, [4]string{"", "", "", ""}, [4]string{"CUP-2", "Cup", "1", "8"})
		_, r = b.post(t, "/orders", form)
		if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), id) {
			t.Fatalf("place: %d Location %q", r.status, r.header.Get("Location"))
		}
		// A double submit names the same order.
		if _, r = b.post(t, "/orders", form); r.status != http.StatusSeeOther {
			t.Fatalf("double submit: %d %s", r.status, r.body)
		}
		o := seen(t, e, id, 1)
		if o.TotalCents != 2*1250+800 || len(o.Lines) != 2 {
			t.Fatalf("placed through the form: %+v", o)
		}
		eventually(t, "order in the list page", func() bool {
			doc, _ := b.page(t, "/orders")
			return doc.Find(`[data-testid="order-row"][data-order-id="`+id+`"]`).Length() == 1
		})
		doc, _ = b.page(t, "/orders?q=page+cust")
		if doc.Find(`[data-testid="order-row"]`).Length() != 1 {
			t.Fatal("search on the list page")
		}

		doc, _ = b.page(t, "/orders/"+id)
		if doc.Find(`[data-testid="action-ship"]`).Length() != 1 || doc.Find(`[data-testid="action-deliver"]`).Length() != 0 {
			t.Fatal("a placed order offers ship, not deliver")
		}
		_, r = b.post(t, "/orders/"+id+"/ship", url.Values{"_csrf": {csrfToken(t, doc)}, "expected_version": {"1"}})
		if r.status != http.StatusSeeOther {
			t.Fatalf("ship: %d %s", r.status, r.body)
		}
		seen(t, e, id, 2)
		doc, _ = b.page(t, "/orders/"+id)
		if badge := strings.TrimSpace(doc.Find(`[data-testid="status-badge"]`).First().Text()); badge != "Shipped" {
			t.Fatalf("badge %q after ship", badge)
		}
		// A stale form (version 1) now meets a conflict, shown with the fresh state.
		doc, r = b.post(t, "/orders/"+id+"/cancel", url.Values{"_csrf": {csrfToken(t, doc)}, "expected_version": {"1"}})
		if e.async {
			// Queued, then rejected: the order's page says so.
			if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "done=accepted") {
				t.Fatalf("stale cancel: %d Location %q", r.status, r.header.Get("Location"))
			}
			eventually(t, "the rejection on the order page", func() bool {
				doc, _ = b.page(t, "/orders/"+id)
				return doc.Find(`[data-testid="rejection"]`).Length() == 1
			})
		} else if r.status != http.StatusConflict || doc.Find(`[data-testid="notice"]`).Length() != 1 {
			t.Fatalf("stale cancel: %d", r.status)
		}

		doc, r = b.page(t, "/dashboard")
		if r.status != http.StatusOK || strings.TrimSpace(doc.Find(`[data-testid="count-shipped"]`).Text()) == "" {
			t.Fatalf("dashboard: %d", r.status)
		}
	})
}

func TestPagesShowValidationBesideFields(t *testing.T) {
	forEachStage(t, func(t *testing.T, e *env) {
		b := browser{e}
		doc, _ := b.page(t, "/orders/new")
		id, _ := doc.Find(`input[name="id"]`).Attr("value")
		form := orderForm(csrfToken(t, doc), id, "", [4]string{"TEA-01", "Green tea", "abc", "-1"})
		doc, r := b.post(t, "/orders", form)
		if r.status != http.StatusUnprocessableEntity {
			t.Fatalf("invalid form: %d", r.status)
		}
		for _, testid := range []string{"error-customer", "error-lines-0-quantity", "error-lines-0-unit_price"} {
			if strings.TrimSpace(doc.Find(`[data-testid="`+testid+`"]`).Text()) == "" {
				t.Errorf("no message %s", testid)
			}
		}
		if v, _ := doc.Find(`input[name="id"]`).Attr("value"); v != id {
			t.Errorf("the order ID changed on error: %q", v)
		}
		if v, _ := doc.Find(`input[name="sku"]`).Attr("value"); v != "TEA-01" {
			t.Errorf("input not kept: sku %q", v)
		}
		if _, found := e.api.get(id); found {
			t.Fatal("an invalid form placed an order")
		}
		form.Set("customer", "Fixed Customer")
		form.Set("quantity", "3")
		form.Set("unit_price", "1.05")
		if _, r = b.post(t, "/orders", form); r.status != http.StatusSeeOther {
			t.Fatalf("corrected form: %d %s", r.status, r.body)
		}
		if o := seen(t, e, id, 1); o.TotalCents != 315 {
			t.Fatalf("corrected order %+v", o)
		}
	})
}

func TestBrowserRoutesNeedCSRFAndAPIRefusesCrossOrigin(t *testing.T) {
	forEachStage(t, func(t *testing.T, e *env) {
		b := browser{e}
		doc, _ := b.page(t, "/orders/new")
		id, _ := doc.Find(`input[name="id"]`).Attr("value")
		form := orderForm("forged", id, "Forger", [4]string{"A", "B", "1", "1"})
		if _, r := b.post(t, "/orders", form); r.status != http.StatusForbidden {
			t.Fatalf("forged token: %d", r.status)
		}
		form.Del("_csrf")
		if _, r := b.post(t, "/orders", form); r.status != http.StatusForbidden {
			t.Fatalf("no token: %d", r.status)
		}
		if _, found := e.api.get(id); found {
			t.Fatal("a forged form placed an order")
		}

		req, _ := http.NewRequest(http.MethodPost, e.base+"/api/orders", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "http://evil.example")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden || res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("cross-origin API call: %d", res.StatusCode)
		}

		r := e.do(http.MethodGet, "/healthz", "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("healthz %d", r.status)
		}
		csp := r.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Fatalf("CSP %q", csp)
		}
		r = e.do(http.MethodGet, "/api/no-such-thing", "", nil)
		if r.status != http.StatusNotFound || !strings.Contains(r.problem(t).Detail, "stage "+strconv.Itoa(e.stage)+" is active") {
			t.Fatalf("unknown API path: %d %s", r.status, r.body)
		}
		r = e.do(http.MethodGet, "/no-such-page", "", nil)
		if r.status != http.StatusNotFound || !strings.Contains(r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("unknown page: %d %s", r.status, r.header.Get("Content-Type"))
		}
		r = e.do(http.MethodGet, "/orders/"+newID(), "", nil)
		if r.status != http.StatusNotFound {
			t.Fatalf("unknown order page: %d", r.status)
		}
	})
}
