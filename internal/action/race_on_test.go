//go:build race

package action

// raceDetector is whether the tests run under the race detector, which the
// tests of concurrent use need to fail at all.
const raceDetector = true
