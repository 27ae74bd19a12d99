package bff

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/web"
)

// orderForm is what the order form posted: the values as typed, for
// re-rendering, and the lines they make, for the command.
type orderForm struct {
	view  web.OrderForm
	lines []order.Line
	// rowOf maps an index in lines to the form row it came from (blank rows
	// are skipped), so domain errors land beside the right inputs.
	rowOf  []int
	errors map[string]string
}

// parseOrderForm reads the repeated sku/name/quantity/unit_price inputs.
func parseOrderForm(c *fiber.Ctx) orderForm {
	args := c.Request().PostArgs()
	multi := func(k string) []string {
		var out []string
		for _, v := range args.PeekMulti(k) {
			out = append(out, string(v))
		}
		return out
	}
	skus, names, qtys, prices := multi("sku"), multi("name"), multi("quantity"), multi("unit_price")
	n := max(len(skus), len(names), len(qtys), len(prices))
	at := func(vs []string, i int) string {
		if i < len(vs) {
			return vs[i]
		}
		return ""
	}
	f := orderForm{errors: map[string]string{}}
	f.view = web.OrderForm{
		ID: c.FormValue("id"), Customer: c.FormValue("customer"), Address: c.FormValue("address"),
	}
	for i := 0; i < n; i++ {
		in := web.LineInput{Index: len(f.view.Lines), SKU: at(skus, i), Name: at(names, i), Quantity: at(qtys, i), UnitPrice: at(prices, i)}
		if strings.TrimSpace(in.SKU+in.Name+in.Quantity+in.UnitPrice) == "" {
			continue
		}
		row := len(f.view.Lines)
		f.view.Lines = append(f.view.Lines, in)
		line := order.Line{SKU: in.SKU, Name: in.Name}
		q, err := strconv.Atoi(strings.TrimSpace(in.Quantity))
		if err != nil {
			f.errors["lines["+strconv.Itoa(row)+"].quantity"] = "must be a whole number"
		}
		line.Quantity = q
		cents, ok := parseCents(in.UnitPrice)
		if !ok {
			f.errors["lines["+strconv.Itoa(row)+"].unit_price"] = "must be a price like 12.50"
		}
		line.UnitPriceCents = cents
		f.lines = append(f.lines, line)
		f.rowOf = append(f.rowOf, row)
	}
	if len(f.view.Lines) == 0 {
		f.view.Lines = []web.LineInput{{}}
	}
	return f
}

// parseCents reads a price typed as "12", "12.5", "12.50" or "1,234.50".
func parseCents(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	for _, sign := range []string{"$", "€", "£"} {
		if rest, ok := strings.CutPrefix(s, sign); ok {
			s = strings.TrimSpace(rest)
			break
		}
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	whole = strings.ReplaceAll(whole, ",", "") // thousands, in the whole part only
	if whole+frac == "" || len(whole)+len(frac) > 12 {
		return 0, false
	}
	if whole == "" {
		whole = "0"
	}
	if hasFrac && (len(frac) == 0 || len(frac) > 2) {
		return 0, false
	}
	if !allDigits(whole) || !allDigits(frac) { // ParseInt would take "+5" and "-0"
		return 0, false
	}
	for len(frac) < 2 {
		frac += "0"
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w < 0 {
		return 0, false
	}
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil || f < 0 {
		return 0, false
	}
	return w*100 + f, true
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// addDomainErrors puts a domain error's field errors beside the inputs they
// concern, and returns a general message for the rest.
func (f *orderForm) addDomainErrors(err error) string {
	fields := order.FieldErrors(err)
	if len(fields) == 0 {
		return order.ErrorMessage(err)
	}
	general := ""
	for _, fe := range fields {
		key := fe.Field
		if strings.HasPrefix(key, "lines[") {
			idx, rest, ok := strings.Cut(strings.TrimPrefix(key, "lines["), "].")
			i, convErr := strconv.Atoi(idx)
			if ok && convErr == nil && i < len(f.rowOf) {
				if rest == "unit_price_cents" {
					rest = "unit_price"
				}
				key = "lines[" + strconv.Itoa(f.rowOf[i]) + "]." + rest
			}
		}
		switch {
		case key == "customer" || key == "address" || key == "lines" || strings.HasPrefix(key, "lines["):
			if _, taken := f.errors[key]; !taken {
				f.errors[key] = fe.Message
			}
		default:
			general = fe.Field + " " + fe.Message
		}
	}
	return general
}
