package npd

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/memrelief/memrelief/internal/report"
)

// monitorConfig mirrors node-problem-detector's MonitorConfig (system log
// monitor) and its custom plugin config, field for field, so a misspelt
// key fails here instead of being ignored by node-problem-detector.
type monitorConfig struct {
	Plugin           string          `json:"plugin"`
	PluginConfig     json.RawMessage `json:"pluginConfig"`
	LogPath          string          `json:"logPath"`
	Lookback         string          `json:"lookback"`
	BufferSize       int             `json:"bufferSize"`
	Source           string          `json:"source"`
	MetricsReporting bool            `json:"metricsReporting"`
	Conditions       []struct {
		Type    string `json:"type"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"conditions"`
	Rules []struct {
		Type      string   `json:"type"`
		Condition string   `json:"condition"`
		Reason    string   `json:"reason"`
		Pattern   string   `json:"pattern"`
		Path      string   `json:"path"`
		Args      []string `json:"args"`
		Timeout   string   `json:"timeout"`
	} `json:"rules"`
}

// customPluginConfig is the custom plugin's pluginConfig.
type customPluginConfig struct {
	InvokeInterval  string `json:"invoke_interval"`
	Timeout         string `json:"timeout"`
	MaxOutputLength int    `json:"max_output_length"`
	Concurrency     int    `json:"concurrency"`
}

func load(t *testing.T, file string) monitorConfig {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var c monitorConfig
	strict(t, file, data, &c)
	// And against the exact schema of the plugin the file names, so a key
	// of the other monitor (a rule's "path" in a log monitor) fails too.
	if c.Plugin == "custom" {
		strict(t, file, data, &npdCustomPluginConfig{})
	} else {
		strict(t, file, data, &npdSystemLogMonitorConfig{})
	}
	return c
}

// npdCondition, npdSystemLogMonitorConfig and npdCustomPluginConfig are
// node-problem-detector's own configuration types, key for key, as its
// source has them at commit 6632ca67 (2026-08-22): pkg/types Condition,
// pkg/systemlogmonitor MonitorConfig with the log watcher's WatcherConfig
// embedded and systemlogmonitor/types Rule, and pkg/custompluginmonitor/
// types CustomPluginConfig, pluginGlobalConfig and CustomRule. Its Go
// module is not served here, so they are copied by their JSON keys; the
// types decode what NPD decodes, refusing every other key.
type npdCondition struct {
	Type       string    `json:"type"`
	Status     string    `json:"status"`
	Transition time.Time `json:"transition"`
	Reason     string    `json:"reason"`
	Message    string    `json:"message"`
}

type npdSystemLogMonitorConfig struct {
	Plugin            string            `json:"plugin,omitempty"`
	PluginConfig      map[string]string `json:"pluginConfig,omitempty"`
	SkipList          []string          `json:"skipList,omitempty"`
	LogPath           string            `json:"logPath,omitempty"`
	Lookback          string            `json:"lookback,omitempty"`
	Delay             string            `json:"delay,omitempty"`
	BufferSize        int               `json:"bufferSize"`
	Source            string            `json:"source"`
	DefaultConditions []npdCondition    `json:"conditions"`
	Rules             []struct {
		Type                          string `json:"type"`
		Condition                     string `json:"condition"`
		Reason                        string `json:"reason"`
		Pattern                       string `json:"pattern"`
		PatternGeneratedMessageSuffix string `json:"patternGeneratedMessageSuffix,omitempty"`
	} `json:"rules"`
	EnableMetricsReporting *bool `json:"metricsReporting,omitempty"`
}

type npdCustomPluginConfig struct {
	Plugin             string `json:"plugin,omitempty"`
	PluginGlobalConfig struct {
		InvokeIntervalString                    *string `json:"invoke_interval,omitempty"`
		TimeoutString                           *string `json:"timeout,omitempty"`
		MaxOutputLength                         *int    `json:"max_output_length,omitempty"`
		Concurrency                             *int    `json:"concurrency,omitempty"`
		EnableMessageChangeBasedConditionUpdate *bool   `json:"enable_message_change_based_condition_update,omitempty"`
		SkipInitialStatus                       *bool   `json:"skip_initial_status,omitempty"`
	} `json:"pluginConfig,omitempty"`
	Source            string         `json:"source"`
	DefaultConditions []npdCondition `json:"conditions"`
	Rules             []*struct {
		Type                 string   `json:"type"`
		Condition            string   `json:"condition"`
		Reason               string   `json:"reason"`
		Path                 string   `json:"path"`
		Args                 []string `json:"args"`
		TimeoutString        *string  `json:"timeout"`
		InvokeIntervalString *string  `json:"invoke_interval,omitempty"`
	} `json:"rules"`
	EnableMetricsReporting *bool `json:"metricsReporting,omitempty"`
}

// strict decodes JSON refusing unknown keys.
func strict(t *testing.T, file string, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// compile compiles a pattern the way node-problem-detector does: it must
// match up to the end of the buffered log (CompilePattern appends \z).
func compile(t *testing.T, where, pattern string) *regexp.Regexp {
	t.Helper()
	re, err := regexp.Compile(pattern + `\z`)
	if err != nil {
		t.Fatalf("%s: pattern %q does not compile: %v", where, pattern, err)
	}
	return re
}

// logBuffer is node-problem-detector's ring buffer of the last n messages,
// matched as one string joined by newlines.
type logBuffer struct {
	n    int
	msgs []string
}

func (b *logBuffer) push(m string) {
	b.msgs = append(b.msgs, strings.TrimSpace(m)) // the journald watcher trims
	if len(b.msgs) > b.n {
		b.msgs = b.msgs[1:]
	}
}

func (b *logBuffer) match(re *regexp.Regexp) bool {
	return re.MatchString(strings.Join(b.msgs, "\n"))
}

// allEvents is the engine's scenario plus the same lines with other
// subjects, as memrelief names them: a unit (no pod found), a cgroup path
// (cgroupfs driver) and the node. Only the subject is replaced; the rest of
// each line is what the engine wrote.
func allEvents(t *testing.T) []report.Event {
	evs := scenarioEvents(t)
	out := append([]report.Event(nil), evs...)
	for _, subject := range []string{"fluent-bit.service", "kubepods/burstable/pod1234-5678", "node"} {
		for _, e := range evs {
			if e.Kind != report.LevelChanged && e.Kind != report.Growth && !strings.Contains(e.Message, " still at level ") {
				continue
			}
			c := e
			c.Message = strings.Replace(e.Message, "pod logging/log-agent", subject, 1)
			c.Fields = map[string]string{"SUBJECT": subject}
			for k, v := range e.Fields {
				c.Fields[k] = v
			}
			out = append(out, c)
		}
	}
	return out
}

// wantReasons is what node-problem-detector should report for an event,
// decided from the event's kind and fields, not from its text.
func wantReasons(e report.Event) []string {
	switch {
	case e.Kind == report.LevelChanged && strings.Contains(e.Message, " escalated to level "):
		return []string{"MemReliefLevelEscalated"}
	case e.Kind == report.LevelChanged && e.Fields[report.FieldLevel] == "normal",
		e.Kind == report.LevelChanged && e.Fields[report.FieldPreviousLevel] == "high":
		return []string{"MemReliefLevelLeft"}
	case e.Kind == report.LevelChanged:
		return []string{"MemReliefLevelEntered"}
	case e.Kind == report.ActionTaken && e.Fields[report.FieldResult] == report.ResultIneffective:
		return []string{"MemReliefReclaimIneffective"}
	case e.Kind == report.ActionTaken && e.Fields[report.FieldResult] == report.ResultFailed:
		return []string{"MemReliefActionFailed"}
	case e.Kind == report.PolicyRejected:
		return []string{"MemReliefPolicyRejected"}
	case e.Kind == report.Yielded:
		return []string{"MemReliefYielded"}
	case e.Kind == report.Growth && e.Fields[report.FieldGrowthReason] != "stopped":
		return []string{"MemReliefMemoryGrowth"}
	}
	return nil
}

func TestMonitorTurnsEventsIntoNodeEvents(t *testing.T) {
	c := load(t, "memrelief-monitor.json")
	var pc map[string]string
	strict(t, "memrelief-monitor.json pluginConfig", c.PluginConfig, &pc)
	if c.Plugin != "journald" || len(pc) != 1 || pc["source"] != "memrelief" || c.Source == "" || c.BufferSize < 2 {
		t.Fatalf("want the journald plugin on SYSLOG_IDENTIFIER memrelief, got plugin %q, pluginConfig %v, source %q, bufferSize %d", c.Plugin, pc, c.Source, c.BufferSize)
	}
	if len(c.Conditions) != 0 {
		t.Errorf("the log monitor cannot clear a condition; conditions belong in memrelief-condition.json: %+v", c.Conditions)
	}
	res := make([]*regexp.Regexp, len(c.Rules))
	used := make([]bool, len(c.Rules))
	for i, r := range c.Rules {
		if r.Type != "temporary" || r.Reason == "" {
			t.Errorf("rule %d: type %q reason %q, want temporary rules with a reason", i, r.Type, r.Reason)
		}
		res[i] = compile(t, "memrelief-monitor.json rule "+r.Reason, r.Pattern)
	}

	buf := &logBuffer{n: c.BufferSize}
	kinds := map[string]bool{}
	for _, e := range allEvents(t) {
		buf.push(e.Message)
		got := map[string]bool{}
		for i, r := range c.Rules {
			if buf.match(res[i]) {
				got[r.Reason], used[i] = true, true
			}
		}
		want := wantReasons(e)
		for _, w := range want {
			kinds[w] = true
			if !got[w] {
				t.Errorf("%s event %q: no %s", e.Kind, e.Message, w)
			}
			delete(got, w)
		}
		for r := range got {
			t.Errorf("%s event %q: unexpected %s", e.Kind, e.Message, r)
		}
	}
	for i, r := range c.Rules {
		if !used[i] && r.Reason != "MemReliefActionFailed" {
			t.Errorf("rule %s (%q) matched no message memrelief wrote", r.Reason, r.Pattern)
		}
	}
	for _, k := range []string{"MemReliefLevelEntered", "MemReliefLevelEscalated", "MemReliefLevelLeft", "MemReliefPolicyRejected", "MemReliefYielded", "MemReliefActionFailed", "MemReliefReclaimIneffective", "MemReliefMemoryGrowth"} {
		if !kinds[k] {
			t.Errorf("the scenario produced no event that should become %s", k)
		}
	}
}

// drop_caches is a node-rule action the scenario cannot run on a fixture;
// this line is the format engine.go writes for it, with result failed.
func TestMonitorDropCachesFailure(t *testing.T) {
	c := load(t, "memrelief-monitor.json")
	line := "drop_caches=2 (reclaimable slab, node-wide): failed"
	buf := &logBuffer{n: c.BufferSize}
	buf.push(line)
	for _, r := range c.Rules {
		if r.Reason == "MemReliefActionFailed" {
			if !buf.match(compile(t, r.Reason, r.Pattern)) {
				t.Errorf("%q is not reported as %s", line, r.Reason)
			}
			return
		}
	}
	t.Fatal("no MemReliefActionFailed rule")
}

// counter is node-problem-detector's log-counter: over the journal entries
// in the lookback window, +1 for each that matches the pattern, -1 for each
// that matches the revert pattern; the condition is true at count >= 1.
type counter struct {
	pattern, revert *regexp.Regexp
	lookback        time.Duration
}

func (c counter) at(now time.Time, evs []report.Event) int {
	n := 0
	buf := &logBuffer{n: 1000}
	for _, e := range evs {
		if e.Time.After(now) || e.Time.Before(now.Add(-c.lookback)) {
			continue
		}
		buf.push(e.Message)
		if buf.match(c.pattern) {
			n++
		}
		if buf.match(c.revert) {
			n--
		}
	}
	return n
}

func loadCounter(t *testing.T) (monitorConfig, counter) {
	t.Helper()
	c := load(t, "memrelief-condition.json")
	if c.Plugin != "custom" || len(c.Conditions) != 1 || c.Conditions[0].Type != "MemReliefSlabPressure" {
		t.Fatalf("want a custom plugin owning the MemReliefSlabPressure condition, got %+v", c)
	}
	var pc customPluginConfig
	strict(t, "memrelief-condition.json pluginConfig", c.PluginConfig, &pc)
	interval, err := time.ParseDuration(pc.InvokeInterval)
	if err != nil || interval <= 0 || interval > 5*time.Minute || pc.Concurrency != 1 {
		t.Errorf("pluginConfig %+v: want an invoke_interval of at most 5m (%v) and concurrency 1", pc, err)
	}
	if len(c.Rules) != 1 || c.Rules[0].Type != "permanent" || c.Rules[0].Condition != "MemReliefSlabPressure" ||
		c.Rules[0].Path != "/home/kubernetes/bin/log-counter" {
		t.Fatalf("want one permanent rule running log-counter, got %+v", c.Rules)
	}
	var k counter
	args := map[string]string{}
	for _, a := range c.Rules[0].Args {
		key, val, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok || !strings.HasPrefix(a, "--") {
			t.Fatalf("log-counter argument %q: want --key=value", a)
		}
		args[key] = val
	}
	if args["journald-source"] != "memrelief" || args["count"] != "1" {
		t.Errorf("log-counter args %v: want --journald-source=memrelief --count=1", args)
	}
	if k.lookback, err = time.ParseDuration(args["lookback"]); err != nil {
		t.Fatalf("--lookback: %v", err)
	}
	k.pattern = compile(t, "--pattern", args["pattern"])
	k.revert = compile(t, "--revert-pattern", args["revert-pattern"])
	return c, k
}

func TestConditionFollowsTheTopLevel(t *testing.T) {
	_, k := loadCounter(t)
	evs := scenarioEvents(t)

	// When the pod was at level high, from the engine's own records.
	type span struct{ from, to time.Time }
	var spans []span
	var in *time.Time
	for _, e := range evs {
		if e.Kind != report.LevelChanged {
			continue
		}
		at := e.Time
		if e.Fields[report.FieldLevel] == "high" && in == nil {
			in = &at
		} else if e.Fields[report.FieldLevel] != "high" && in != nil {
			spans = append(spans, span{*in, at})
			in = nil
		}
	}
	if len(spans) != 2 || in != nil {
		t.Fatalf("scenario: want two visits to level high, got %v (still in: %v)", spans, in)
	}
	for i, s := range spans {
		// True for the whole visit: node-problem-detector runs the counter
		// every invoke_interval; check every second of the visit.
		for now := s.from; now.Before(s.to); now = now.Add(time.Second) {
			if n := k.at(now, evs); n < 1 {
				t.Errorf("at %s (at level high since %s): count %d, condition false", now.Format("15:04:05"), s.from.Format("15:04:05"), n)
				break
			}
		}
		// False at the latest one lookback after the last visit ended
		// (its reminders have left the window).
		if i < len(spans)-1 {
			continue
		}
		if n := k.at(s.to.Add(k.lookback), evs); n > 0 {
			t.Errorf("%s after leaving level high at %s: count %d, condition still true", k.lookback, s.to.Format("15:04:05"), n)
		}
	}
	// A short visit without reminders clears at the next run.
	if n := k.at(spans[0].to, evs); n != 0 {
		t.Errorf("right after the escalated visit ended: count %d, want 0", n)
	}
}

// Pods, services and cgroupfs-driver cgroups count; the node does not (its
// top level is about memory pressure, reported as events, not slab).
func TestConditionSubjects(t *testing.T) {
	_, k := loadCounter(t)
	for _, e := range allEvents(t) {
		enter := e.Kind == report.LevelChanged && e.Fields[report.FieldLevel] == "high" ||
			strings.Contains(e.Message, " still at level high: ")
		leave := e.Kind == report.LevelChanged && e.Fields[report.FieldPreviousLevel] == "high" && e.Fields[report.FieldLevel] != "high"
		isNode := e.Fields["SUBJECT"] == "node"
		buf := &logBuffer{n: 1000}
		buf.push(e.Message)
		if got, want := buf.match(k.pattern), enter && !isNode; got != want {
			t.Errorf("%q: matches --pattern %v, want %v", e.Message, got, want)
		}
		if got, want := buf.match(k.revert), leave && !isNode; got != want {
			t.Errorf("%q: matches --revert-pattern %v, want %v", e.Message, got, want)
		}
	}
}
