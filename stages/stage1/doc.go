// Package stage1 is Staircase at stage 1, separate read and write APIs over
// the same model. Since stage 0, the one REST resource /api/orders has been
// split in two: a modify API of commands (POST /api/commands/{name},
// command_api.go) that answer ack or nak — 204 with the order's new version
// as ETag, or a problem; only place-order answers with the new order's key
// — and a retrieve API of queries (GET /api/queries/..., query_api.go) that
// change nothing. The stage's Go side is split the same way, into a command
// type (commands.go) and a query type (queries.go).
//
// Below the APIs nothing has changed: both sides go through stage 0's CRUD
// service and its one model, the table row (service.go, model.go), which
// stage 1 carries as copies, byte for byte.
//
// The copies are deliberate: each stage stands alone, and `diff -r` between
// it and the stage before is the lesson. README.md lists the files this
// step changes and the ones it carries forward; stages/steps_test.go fails
// when a carried file is edited in one stage only. Change a carried file in
// every stage that carries it, or move it to the changed list.
package stage1
