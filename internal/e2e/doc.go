// Package e2e runs the real staircase binary as separate processes and
// proves what only real processes can: that stage 3 loses nothing when a
// process is killed mid-load (SIGKILL, on the embedded SQLite and NATS),
// and that several instances sharing PostgreSQL and a NATS server share the
// work without applying or publishing anything twice. The tests build the
// binary once per run (TestMain), talk to it over loopback HTTP, and read
// the databases directly to check what the processes left there.
package e2e
