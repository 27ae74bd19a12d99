// Package command is stage 2's write side: the handlers that apply each
// command to the order aggregate (internal/order, which enforces every
// rule), and the repository that loads and saves the aggregate with
// optimistic concurrency on its version. Nothing here answers a query.
package command
