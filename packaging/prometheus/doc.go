// Package prometheus holds memrelief's Prometheus rules
// (memrelief-rules.yaml, with promtool unit tests in
// memrelief-rules.test.yaml) and Grafana dashboard
// (memrelief-dashboard.json), and the tests that check them: promtool
// parses and unit-tests the rules, parses every dashboard query, and every
// memrelief series they name is one the daemon serves.
package prometheus
