// Package bench measures Staircase the way a team evaluating CQRS compares
// the stages: a load generator that drives a running server in whatever
// stage it is (`staircase bench`), Go benchmarks that start the app in
// process and run every stage side by side (`make bench`), and a report that
// turns the benchmark output into ratios against stage 0.
//
// Numbers are reported, never asserted: a shared two-core machine makes any
// timed assertion flaky, while ratios measured in one run stay meaningful.
package bench
