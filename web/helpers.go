package web

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
)

// htmxConfig lets htmx swap our 422 validation re-renders and 409 conflict pages, and stops it
// injecting its indicator <style>, which the CSP would block.
const htmxConfig = `{"includeIndicatorStyles":false,"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"422","swap":true},{"code":"409","swap":true},{"code":"[45]..","swap":false,"error":true}]}`

// csrfHeaders is the hx-headers JSON that makes htmx send the CSRF token with every request.
func csrfHeaders(token string) string {
	b, err := json.Marshal(map[string]string{"X-CSRF-Token": token})
	if err != nil {
		// A map of strings always marshals.
		panic(err)
	}
	return string(b)
}

func pageTitle(title string) string {
	if title == "" {
		return "Staircase"
	}
	return title + " · Staircase"
}

func stageText(s StageBadge) string {
	if s.Name == "" {
		return "Stage " + strconv.Itoa(s.Number)
	}
	return "Stage " + strconv.Itoa(s.Number) + " · " + s.Name
}

// orderURL builds /orders/{id}/{action}, escaping the ID.
func orderURL(id, action string) string {
	u := "/orders/" + url.PathEscape(id)
	if action != "" {
		u += "/" + action
	}
	return u
}

func badgeClass(status string) string {
	return "badge badge-" + status
}

func versionText(v int) string {
	return "v" + strconv.Itoa(v)
}

func filtered(vm OrdersList) bool {
	return vm.Q != "" || vm.Status != ""
}

// lineWithErrors returns the row at position i with its position as Index and the form's
// "lines[i].<field>" errors merged under the row's own.
func lineWithErrors(f OrderForm, i int, l LineInput) LineInput {
	l.Index = i
	merged := make(map[string]string, len(l.Errors)+4)
	for _, field := range lineFields {
		if msg := f.Errors[fmt.Sprintf("lines[%d].%s", i, field)]; msg != "" {
			merged[field] = msg
		}
	}
	for k, v := range l.Errors {
		if v != "" {
			merged[k] = v
		}
	}
	l.Errors = merged
	return l
}

var lineFields = []string{"sku", "name", "quantity", "unit_price"}

// lineErrID is the id of a line field's error element, e.g. "err-lines-2-sku".
func lineErrID(i int, field string) string {
	return fmt.Sprintf("err-lines-%d-%s", i, field)
}

// lineErrTestID is the data-testid of a line field's error element, e.g. "error-lines-2-sku".
func lineErrTestID(i int, field string) string {
	return fmt.Sprintf("error-lines-%d-%s", i, field)
}

func submitLabel(f OrderForm, fallback string) string {
	if f.Submit != "" {
		return f.Submit
	}
	return fallback
}

func lineValue(l LineInput, field string) string {
	switch field {
	case "sku":
		return l.SKU
	case "name":
		return l.Name
	case "quantity":
		return l.Quantity
	case "unit_price":
		return l.UnitPrice
	}
	return ""
}

func hasActions(d OrderDetail) bool {
	return d.CanChangeLines || d.CanShip || d.CanDeliver || d.CanCancel || d.CanDelete
}

// linesOnly makes the edit page's customer and address read-only whatever the caller set.
func linesOnly(f OrderForm) OrderForm {
	f.EditLinesOnly = true
	return f
}
