// Package acceptance holds Staircase's acceptance suite: one set of
// scenarios about orders, written once against a small client interface and
// run against every stage through that stage's own JSON API and the BFF's
// pages, on SQLite always and on PostgreSQL when STAIRCASE_TEST_POSTGRES is
// set. A stage joins the suite by adding an API adapter, never by copying
// scenarios.
package acceptance
