package web

// Chrome is what every full page needs besides its own content: the title, the active nav
// entry, the stage badge and switcher, the CSRF token and an optional flash message.
type Chrome struct {
	// Title is shown as "<Title> · Staircase"; empty gives just "Staircase".
	Title string
	// ActiveNav marks the current nav link: "orders", "new", "dashboard" or "architecture".
	ActiveNav string
	Stage     StageBadge
	// Stages fills the stage switcher; the switcher is hidden when empty.
	Stages    []StageOption
	CSRFToken string
	// Flash is an optional success message shown at the top of main.
	Flash string
}

// StageBadge names the stage the app currently runs.
type StageBadge struct {
	Number int
	Name   string
	// KeepsCancelReason is set when the stage records why an order was
	// cancelled; the cancel form says so when it does not.
	KeepsCancelReason bool
}

// StageOption is one entry of the stage switcher.
type StageOption struct {
	Number   int
	Label    string
	Selected bool
}

// Option is one entry of a select.
type Option struct {
	Value, Label string
	Selected     bool
}

// OrdersList is the orders page: the filter values, one page of rows and the pagination.
type OrdersList struct {
	// Q and Status are the current filter values.
	Q, Status string
	// Statuses are the status filter options, "All" included.
	Statuses []Option
	Rows     []OrderRow
	// NextURL is the next page's URL; empty on the last page.
	NextURL string
	// FirstURL is the first page's URL; empty on the first page.
	FirstURL string
	// Source tells where the rows were read from, e.g. "write model · stage 0".
	Source string
	// HighlightID is the ID of a row to highlight (an order just placed).
	HighlightID string
	// LiveURL, when set, is the server-sent events stream that replaces the rows with a
	// LiveEvent once the read side catches up; empty opens no connection.
	LiveURL string
}

// OrderRow is one row of the orders table.
type OrderRow struct {
	ID, ShortID, URL string
	Customer         string
	// Status is the machine value (placed, shipped, delivered, cancelled), used in the badge's
	// CSS class; StatusLabel is what the reader sees.
	Status, StatusLabel string
	Lines               int
	// Total is already formatted, e.g. "$25.00".
	Total     string
	CreatedAt string
	Version   int
	// Pending marks an order placed but not yet on the read side.
	Pending bool
	// Syncing marks an order whose read-side copy is behind.
	Syncing bool
	// LiveEvent, when set, names the server-sent event (on the list's LiveURL) whose data
	// replaces this row.
	LiveEvent string
}

// OrderForm is the new-order form and, with EditLinesOnly, the change-lines form.
type OrderForm struct {
	// ID is the client-made order ID, posted as the hidden input "id".
	ID string
	// Action is the URL the form posts to.
	Action            string
	Customer, Address string
	// EditLinesOnly shows customer and address read-only; only the lines are editable.
	EditLinesOnly bool
	// ExpectedVersion is posted as "expected_version" when > 0.
	ExpectedVersion int
	Lines           []LineInput
	// Errors maps a field to its message. Keys: "customer", "address", "lines" (the whole
	// list) and, per line, "lines[i].sku", "lines[i].name", "lines[i].quantity",
	// "lines[i].unit_price" with i the 0-based row index.
	Errors map[string]string
	// FormError is a general message shown above the form.
	FormError string
	// Submit is the submit button's label; empty gives a default per page.
	Submit string
	// CancelURL, when set, adds a "Cancel" link.
	CancelURL string
}

// LineInput is one editable order line. Its values are kept as typed so they survive a
// validation error.
type LineInput struct {
	// Index is the 0-based row position, used in the error element IDs. Rows rendered by an
	// OrderForm get their position here whatever the caller set.
	Index                          int
	SKU, Name, Quantity, UnitPrice string
	// Errors maps "sku", "name", "quantity" or "unit_price" to a message.
	Errors map[string]string
}

// OrderDetail is the order page.
type OrderDetail struct {
	ID, ShortID          string
	Customer, Address    string
	Status, StatusLabel  string
	Version              int
	Lines                []LineView
	Total                string
	CreatedAt, UpdatedAt string
	// Source is provenance text shown near the title, e.g. "write model · v3".
	Source string
	// Notice is an alert shown above the order, e.g. after a version conflict.
	Notice string
	// Rejection is shown as an alert, e.g. a command rejected after it was accepted.
	Rejection string
	// The Can* flags decide which actions are rendered.
	CanChangeLines, CanShip, CanDeliver, CanCancel, CanDelete bool
	// ExpectedVersion is the version the action forms expect the order to
	// be at: the newer version just saved while the page is syncing; 0
	// means Version.
	ExpectedVersion int
	// History is hidden when empty.
	History []HistoryEntry
	// Syncing, when set, is a banner saying the read side still shows an older version than
	// the one just saved.
	Syncing string
	// LiveURL, when set, is the server-sent events stream whose event LiveEvent replaces the
	// order's view once the read side catches up; empty opens no connection.
	LiveURL, LiveEvent string
}

// ActionVersion is the version the action forms send as expected_version.
func (d OrderDetail) ActionVersion() int {
	if d.ExpectedVersion > 0 {
		return d.ExpectedVersion
	}
	return d.Version
}

// LineView is one order line, formatted.
type LineView struct {
	SKU, Name, Quantity, UnitPrice, Subtotal string
}

// HistoryEntry is one event in an order's history.
type HistoryEntry struct {
	At, Text string
}

// Dashboard is the dashboard page.
type Dashboard struct {
	// Counts gives one card per status.
	Counts       []StatusCount
	Orders       int
	Revenue      string
	TopCustomers []CustomerRow
	Source       string
}

// StatusCount is the number of orders in one status.
type StatusCount struct {
	Status, Label string
	Count         int
}

// CustomerRow is one row of the top customers table.
type CustomerRow struct {
	Name    string
	Orders  int
	Revenue string
}
