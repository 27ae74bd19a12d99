// Package stage3 is Staircase at stage 3, separate read and write
// databases. The write model is stage 2's aggregate and repository, carried
// forward (package command), on the database of record; each write
// transaction also appends the change's events to a change log in that same
// database (package changelog: no dual write). A relay (relay.go) publishes
// the change log, in commit order, to the event bus (NATS JetStream through
// Watermill); a projector (projector.go) consumes it and keeps a separate
// read database of tables made for the screens (package projection). Reads
// come from there, so they are eventually consistent: every read says which
// version it saw, and the UI marks what is still syncing.
//
// What changed from stage 2: the read model moved to its own database and is
// fed by events instead of sharing tables with the write model. The APIs
// (command_api.go, query_api.go) are stage 2's, carried forward.
//
// That core step reads first (stage.go, then the packages and files named
// above). The operations sit beside it and plug in through seams, not
// branches in the core:
//
//   - the command bus, async mode: package commandbus — a decorator of the
//     write side (Queue), a decorator of the read side (Rejections), a part
//     of the repository's change-log hook (RecordApplied), and the status of
//     queued commands;
//   - the error log and replay: package errorlog, over
//     projection/error_log.go — Watermill's Retry and PoisonQueue park an
//     event after its retries and a decorator of the projector's handler
//     holds the later events of its order behind it (the projector's
//     Wrapper); the relay parks a row it cannot read (its Parker); the
//     command bus parks a command it gives up on;
//   - rebuild of the read database and entering the stage: package rebuild,
//     over projection/tables.go (shadow tables swapped in) and
//     projection/reconcile.go (sync with the database of record, for
//     orders changed while stages 0–2 were active), which also fills, for
//     the projector, a gap no event will fill (its GapFiller);
//   - metrics: metrics.go.
//
// The copies of stage 2's files are deliberate: each stage stands alone,
// and `diff -r` between it and the stage before is the lesson. README.md
// lists the files this step changes and the ones it carries forward;
// stages/steps_test.go fails when a carried file is edited in one stage
// only.
package stage3
