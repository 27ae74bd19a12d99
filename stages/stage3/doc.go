// Package stage3 is Staircase at stage 3, separate read and write
// databases. The write model is stage 2's aggregate and repository, on the
// database of record; each write transaction also appends the change's
// events to a change log in that same database (no dual write). A relay
// publishes the change log, in commit order, to the event bus (NATS
// JetStream through Watermill); a projector consumes it and keeps a
// separate read database of tables made for the screens. Reads come from
// there, so they are eventually consistent: every read says which version it
// saw, and the UI marks what is still syncing.
//
// What changed from stage 2: the read model moved to its own database and is
// fed by events instead of sharing tables with the write model.
package stage3
