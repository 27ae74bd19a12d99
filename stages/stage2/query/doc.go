// Package query is stage 2's read side: DTOs shaped for each screen — the
// orders list, the order page, the dashboard — filled by queries written
// for reading, over views (migration read_views) in the same database the
// write side saves to. No aggregate is loaded and no rule is checked here,
// and nothing here writes.
package query
