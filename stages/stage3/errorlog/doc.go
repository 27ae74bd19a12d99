// Package errorlog is stage 3's error log (its dead letters), an operation
// that plugs into the core step through seams rather than branches:
//
//   - for the projector, Watermill's Retry and PoisonQueue middleware park
//     an event that still fails after its retries, and a decorator of the
//     projector's handler (Projector.Holding) holds the later events of its
//     order behind it, so that per-order order is kept while other orders
//     go on; a late event that fills the gap they wait on lets them through;
//   - for the relay (Relay, its Parker), a change-log row the relay cannot
//     read or publish is parked, its order's later events held behind it;
//   - for the command bus (Commands), a command that does not decode or
//     keeps failing is parked as a command entry;
//   - Log is the log as an operator sees it — the admin API, the pages and
//     `staircase dlq`: list, inspect, dry-run and replay (a command is
//     re-queued), or discard.
//
// The entries live in the read database (projection/error_log.go).
package errorlog
