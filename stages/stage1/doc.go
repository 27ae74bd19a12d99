// Package stage1 is Staircase at stage 1, separate read and write APIs over
// the same model. Since stage 0, the one REST resource /api/orders has been
// split in two: a modify API of commands (POST /api/commands/{name}) that
// answer ack or nak — 204 with the order's new version as ETag, or a
// problem; only place-order answers with the new order's key — and a
// retrieve API of queries (GET /api/queries/...) that change nothing. The
// stage's Go side is split the same way, into a command type and a query
// type.
//
// Below the API nothing has changed: both sides still go through stage 0's
// CRUD service and its one model, the table row, which stage 1 imports
// rather than copies.
package stage1
