// Package order is the order domain shared by every stage of Staircase: the
// order and its lines, the status machine, the commands that change an order,
// the events those changes produce, the queries the screens ask, and the
// errors (with codes) that every layer maps once.
//
// It imports no database, HTTP or messaging package: each stage decides how
// orders are stored and transported, none decides what an order is.
package order
