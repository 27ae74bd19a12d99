package stageview

import "time"

// Process is one running process of the app, as the process registry
// knows it: what it runs and how busy it is.
type Process struct {
	// ID names the process: host, process ID and address.
	ID string
	// Roles are what it runs: web, commands, relay, projector.
	Roles []string
	// Stage is its active stage; Addr where it listens; Version the build.
	Stage   int
	Addr    string
	Version string
	// Started is when it started; Heartbeat when it last said it runs.
	Started, Heartbeat time.Time
	// Rates are its throughput over its last heartbeats, per second, by
	// what it counts (requests, commands, published, projected).
	Rates map[string]float64
}
