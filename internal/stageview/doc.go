// Package stageview is what a stage shows people about itself, as typed
// values: its description and diagram, the live figures it reports, and
// the entries of its error log. Each stage fills them in; the BFF renders
// them without knowing which stage it shows, so a figure a stage renames
// or drops changes what it returns, not a string the BFF looks up.
//
// It is neutral ground between the stages and the BFF: it imports neither,
// and holds no behaviour beyond the drawing kit the stages lay their
// diagrams out with.
package stageview
