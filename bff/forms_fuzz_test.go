package bff

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// A price as people type it: digits, thousands commas, at most two
// decimals, an optional currency sign.
var typedPrice = regexp.MustCompile(`^[0-9,]*(\.[0-9]{1,2})?$`)

// FuzzParseCents: a price is read only when it is one as people type it,
// and then it is the number they typed.
func FuzzParseCents(f *testing.F) {
	for _, s := range []string{"12", "12.5", "12.50", "1,234.50", "$3", "€ 0.99", ".5", "1.+5", "+12", "-1", "1e3", "١٢", " 7 ", "99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cents, ok := parseCents(s)
		if !ok {
			return
		}
		number := strings.TrimSpace(s)
		for _, sign := range []string{"$", "€", "£"} {
			if rest, ok := strings.CutPrefix(number, sign); ok {
				number = strings.TrimSpace(rest)
				break
			}
		}
		if !typedPrice.MatchString(number) || strings.Contains(strings.SplitN(number, ".", 2)[0], ".") {
			t.Fatalf("%q read as %d cents", s, cents)
		}
		digits := strings.ReplaceAll(number, ",", "")
		whole, frac, _ := strings.Cut(digits, ".")
		frac = (frac + "00")[:2]
		if whole == "" {
			whole = "0"
		}
		want, err := strconv.ParseInt(whole+frac, 10, 64)
		if err != nil || want != cents || cents < 0 {
			t.Fatalf("%q read as %d cents, want %d (%v)", s, cents, want, err)
		}
	})
}

// FuzzOrderForm: whatever a form posts, reading it never panics, keeps
// every non-blank row for re-rendering, and pins every error to a row
// that exists.
func FuzzOrderForm(f *testing.F) {
	f.Add("id=x&customer=Ada&address=1+Loop&sku=A&name=B&quantity=1&unit_price=2.50")
	f.Add("sku=A&sku=B&quantity=1&unit_price=&name=%00")
	f.Add("quantity=abc&quantity=1e9&unit_price=1.999&unit_price=%E2%80%AE")
	f.Add("sku=&name=&quantity=&unit_price=&sku=X")
	f.Add(strings.Repeat("sku=A&", 100))
	app := fiber.New()
	var got orderForm
	app.Post("/", func(c *fiber.Ctx) error {
		got = parseOrderForm(c)
		return nil
	})
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return
		}
		if len(got.view.Lines) == 0 || len(got.lines) != len(got.rowOf) {
			t.Fatalf("%q: %d rows shown, %d lines, %d rows mapped", body, len(got.view.Lines), len(got.lines), len(got.rowOf))
		}
		for i, row := range got.rowOf {
			if row < 0 || row >= len(got.view.Lines) || (i > 0 && row <= got.rowOf[i-1]) {
				t.Fatalf("%q: line %d maps to row %d of %d", body, i, row, len(got.view.Lines))
			}
		}
		for key := range got.errors {
			idx, _, ok := strings.Cut(strings.TrimPrefix(key, "lines["), "]")
			n, err := strconv.Atoi(idx)
			if !strings.HasPrefix(key, "lines[") || !ok || err != nil || n >= len(got.view.Lines) {
				t.Fatalf("%q: error %q is beside no row", body, key)
			}
		}
	})
}
