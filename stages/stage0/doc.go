// Package stage0 is Staircase at stage 0, typical application data access:
// one model that is the table row, a CRUD service whose operations read and
// write at once (an update returns the updated order), and one REST API,
// /api/orders. The dashboard is computed on the fly with joins and
// aggregates over the same tables the writes go to.
//
// The rules of an order still come from the domain package; what stage 0
// does not have is any separation between reading and writing.
//
// Each later stage starts as a copy of the one before and changes only its
// step (README.md in each stage lists what it changes and what it carries
// forward; stages/steps_test.go checks it). The copies are deliberate.
package stage0
