// Package bff is Staircase's backend for frontend: the Fiber app that serves
// the pages and htmx fragments, the active stage's JSON API, health and
// metrics. It talks to the active stage only through the ports it declares
// (Commands, Queries, Stage), so its handlers serve every stage alike.
package bff
