// Package npd holds node-problem-detector configurations that turn
// memrelief's journal events into Kubernetes node events and a
// NodeCondition (see README.md). The Go code here only tests them: every
// pattern compiles and matches, with node-problem-detector's own matching
// rules, the messages memrelief's engine really writes.
package npd
