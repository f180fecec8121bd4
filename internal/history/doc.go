// Package history remembers how much memory each watched cgroup (and the
// node) used, at a few resolutions in rings of bounded size (grown as they
// fill, so a young series costs little), keeps it on disk across restarts,
// and turns it into robust growth estimates, forecasts of when a limit will
// be reached, a plain-word account of what is growing, rate-limited
// reminders and small text charts.
//
// Everything here is pure: time comes in as an argument and nothing reads
// the clock, so tests replay weeks in milliseconds, and the same logic works
// when a test compresses hours of leak into minutes.
package history
