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
