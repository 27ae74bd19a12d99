// Package command is stage 3's write side, carried forward from stage 2:
// the handlers that apply each command to the order aggregate
// (internal/order, which enforces every rule), and the repository that
// loads and saves the aggregate with optimistic concurrency on its version.
// Stage 3 gives the repository its change log (WithChangeLog), so that
// every save appends its events in the same transaction. Nothing here
// answers a query.
package command
