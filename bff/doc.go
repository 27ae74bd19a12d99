// Package bff is Staircase's backend for frontend: the Fiber app that serves
// the pages and htmx fragments, the active stage's JSON API, health and
// metrics. It talks to the stages only through the ports it declares
// (Stage with its Commands and Queries; Enterer, Rebuilder, Reporter and
// ErrorLog for what some stages offer besides), so its handlers serve every
// stage alike. What a stage shows about itself — its diagram, what it
// changed, its live figures, its error log — comes typed from the stage
// (internal/stageview): the BFF names no stage, no stage's metric and no
// topic.
package bff
