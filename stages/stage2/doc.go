// Package stage2 is Staircase at stage 2, separate read and write models
// over the same database. Since stage 1, the APIs are unchanged but the
// model under each side is its own:
//
//   - the write model (package command) is the order aggregate, which
//     enforces every rule, loaded and saved by a repository with optimistic
//     concurrency on the order's version — no row is locked while a command
//     is decided; a save from a stale version fails with a conflict;
//   - the read model (package query) is DTOs shaped for each screen, filled
//     by queries written for reading over SQL views of the same tables.
//
// Neither package imports the other (boundary_test.go checks it). Both
// still use the one database: the read model is never behind the writes.
// The APIs (command_api.go, query_api.go) are stage 1's, carried forward.
//
// The copies are deliberate: each stage stands alone, and `diff -r` between
// it and the stage before is the lesson. README.md lists the files this
// step changes and the ones it carries forward; stages/steps_test.go fails
// when a carried file is edited in one stage only.
package stage2
