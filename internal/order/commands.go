package order

// PlaceOrder places a new order with a client-made ID. Placing the same ID
// with the same content again is not an error: it names the same order.
type PlaceOrder struct {
	ID       ID
	Customer string
	Address  string
	Currency string // optional; DefaultCurrency when empty
	Lines    []Line
}

// ChangeOrderLines replaces the lines of a placed order.
type ChangeOrderLines struct {
	ID              ID
	Lines           []Line
	ExpectedVersion int // 0: whatever the current version is
}

// ShipOrder ships a placed order.
type ShipOrder struct {
	ID              ID
	ExpectedVersion int
}

// DeliverOrder marks a shipped order delivered.
type DeliverOrder struct {
	ID              ID
	ExpectedVersion int
}

// CancelOrder cancels a placed order.
type CancelOrder struct {
	ID              ID
	Reason          string
	ExpectedVersion int
}

// DeleteOrder deletes a placed or cancelled order.
type DeleteOrder struct {
	ID              ID
	ExpectedVersion int
}

// Ack is what a command returns: the order it changed and the version the
// change made. Accepted is set when the command was queued rather than
// applied (the stage 3 command bus); Version is then the version the order
// had when the command was accepted, or 0 if it did not exist yet.
type Ack struct {
	ID       ID
	Version  int
	Accepted bool
	// CommandID names a queued command (Accepted), so that its caller can
	// ask whether it was applied or rejected.
	CommandID string
}

// Command is what every command is: it names the order it is for and
// checks its own fields. Validate returns an EINVALID *Error with one
// FieldError per field it gets wrong, or nil; it says nothing of whether
// the order's status or version allows the command, which only the rules
// on the order itself decide.
type Command interface {
	Target() ID
	Validate() error
}

// Target is the order the command places.
func (c PlaceOrder) Target() ID { return c.ID }

// Validate checks the new order's fields: ID, customer, address, currency
// and 1 to MaxLines lines.
func (c PlaceOrder) Validate() error {
	_, err := c.normalize()
	return err
}

// Target is the order whose lines change.
func (c ChangeOrderLines) Target() ID { return c.ID }

// Validate checks the ID, the expected version and the new lines.
func (c ChangeOrderLines) Validate() error {
	var fe fieldErrors
	checkID(&fe, c.ID)
	checkLines(&fe, c.Lines)
	checkExpected(&fe, c.ExpectedVersion)
	return fe.err()
}

// Target is the order to ship.
func (c ShipOrder) Target() ID { return c.ID }

// Validate checks the ID and the expected version.
func (c ShipOrder) Validate() error { return checkRef(c.ID, c.ExpectedVersion) }

// Target is the order to deliver.
func (c DeliverOrder) Target() ID { return c.ID }

// Validate checks the ID and the expected version.
func (c DeliverOrder) Validate() error { return checkRef(c.ID, c.ExpectedVersion) }

// Target is the order to cancel.
func (c CancelOrder) Target() ID { return c.ID }

// Validate checks the ID, the reason and the expected version.
func (c CancelOrder) Validate() error {
	var fe fieldErrors
	checkID(&fe, c.ID)
	checkReason(&fe, c.Reason)
	checkExpected(&fe, c.ExpectedVersion)
	return fe.err()
}

// Target is the order to delete.
func (c DeleteOrder) Target() ID { return c.ID }

// Validate checks the ID and the expected version.
func (c DeleteOrder) Validate() error { return checkRef(c.ID, c.ExpectedVersion) }

// checkRef checks the fields of a command that names an order and nothing
// else.
func checkRef(id ID, expected int) error {
	var fe fieldErrors
	checkID(&fe, id)
	checkExpected(&fe, expected)
	return fe.err()
}
