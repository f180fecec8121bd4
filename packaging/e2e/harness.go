package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Mode is one way of booting the guest.
type Mode struct {
	Name       string // unified, hybrid or legacy: the value of memrelief detect's .cgroup.mode
	KernelArgs string // appended to the kernel command line
}

// Modes returns the three cgroup modes in the order they are booted.
func Modes() []Mode {
	return []Mode{
		{Name: "unified"},
		{Name: "hybrid", KernelArgs: "systemd.unified_cgroup_hierarchy=0"},
		{Name: "legacy", KernelArgs: "systemd.unified_cgroup_hierarchy=0 systemd.legacy_systemd_cgroup_controller=1"},
	}
}

// Scenario is one script under scenarios/, described by its header lines
// "# modes: unified hybrid" and "# timeout: SECONDS", and optionally
// "# run: on request".
type Scenario struct {
	Name       string // file name without .sh, also the result file's name
	Path       string
	Modes      []string
	TimeoutSec int
	// OnRequest scenarios are measurements, not checks: they run only when
	// MEMRELIEF_E2E_SCENARIOS names them, and CI's time bound leaves them
	// out.
	OnRequest bool
}

// In reports whether the scenario runs in the named mode.
func (s Scenario) In(mode string) bool { return slices.Contains(s.Modes, mode) }

// LoadScenarios reads the headers of every scenario script in dir (files
// named [0-9]*.sh), sorted by name, which is also the order they run in.
func LoadScenarios(dir string) ([]Scenario, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "[0-9]*.sh"))
	if err != nil {
		return nil, fmt.Errorf("list scenarios in %s: %w", dir, err)
	}
	sort.Strings(paths)
	var out []Scenario
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read scenario: %w", err)
		}
		s, err := ParseScenarioHeader(p, data)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no scenarios ([0-9]*.sh) in %s", dir)
	}
	return out, nil
}

// ParseScenarioHeader reads the "# modes:" and "# timeout:" lines of one
// scenario. Both are required: a scenario without them would silently never
// run or run unbounded.
func ParseScenarioHeader(path string, data []byte) (Scenario, error) {
	s := Scenario{Name: strings.TrimSuffix(filepath.Base(path), ".sh"), Path: path}
	known := map[string]bool{}
	for _, m := range Modes() {
		known[m.Name] = true
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		switch {
		case strings.HasPrefix(text, "# modes:"):
			if s.Modes != nil {
				return Scenario{}, fmt.Errorf("%s:%d: modes: given twice", path, line)
			}
			s.Modes = []string{}
			for _, m := range strings.Fields(strings.TrimPrefix(text, "# modes:")) {
				if !known[m] {
					return Scenario{}, fmt.Errorf("%s:%d: modes: unknown mode %q (want unified, hybrid or legacy)", path, line, m)
				}
				s.Modes = append(s.Modes, m)
			}
			if len(s.Modes) == 0 {
				return Scenario{}, fmt.Errorf("%s:%d: modes: empty", path, line)
			}
		case strings.HasPrefix(text, "# timeout:"):
			if s.TimeoutSec != 0 {
				return Scenario{}, fmt.Errorf("%s:%d: timeout: given twice", path, line)
			}
			v := strings.TrimSpace(strings.TrimPrefix(text, "# timeout:"))
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 || n > 1800 {
				return Scenario{}, fmt.Errorf("%s:%d: timeout: %q is not a number of seconds in 1..1800", path, line, v)
			}
			s.TimeoutSec = n
		case strings.HasPrefix(text, "# run:"):
			if v := strings.TrimSpace(strings.TrimPrefix(text, "# run:")); v != "on request" {
				return Scenario{}, fmt.Errorf("%s:%d: run: %q (the only value is \"on request\")", path, line, v)
			}
			s.OnRequest = true
		}
	}
	if err := sc.Err(); err != nil {
		return Scenario{}, fmt.Errorf("read %s: %w", path, err)
	}
	if s.Modes == nil {
		return Scenario{}, fmt.Errorf("%s: no \"# modes:\" line", path)
	}
	if s.TimeoutSec == 0 {
		return Scenario{}, fmt.Errorf("%s: no \"# timeout:\" line", path)
	}
	return s, nil
}

// Status is a scenario's outcome.
type Status string

// The outcomes a scenario can report.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Result is what a scenario wrote to its result file in the guest.
type Result struct {
	Status  Status
	Message string
	// Figures are the measurements the scenario chose to report (peak
	// bytes, milliseconds ...), as the text it wrote.
	Figures map[string]string
	// Seconds is the scenario's wall-clock run time in the guest, written
	// by the runner.
	Seconds int
}

// ParseResult reads a result file: key=value lines with keys status,
// message, seconds and figure.NAME. A scenario may write status more than
// once (a figure-reporting helper failing late); the first status wins
// because the runner appends its own only when none was written.
func ParseResult(path string, data []byte) (Result, error) {
	r := Result{Figures: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			continue
		}
		key, value, ok := strings.Cut(text, "=")
		if !ok {
			return Result{}, fmt.Errorf("%s:%d: want key=value, got %q", path, line, text)
		}
		switch {
		case key == "status":
			if r.Status != "" {
				continue
			}
			switch s := Status(value); s {
			case Pass, Fail, Skip:
				r.Status = s
			default:
				return Result{}, fmt.Errorf("%s:%d: status: %q is not pass, fail or skip", path, line, value)
			}
		case key == "message":
			if r.Message == "" {
				r.Message = value
			}
		case key == "seconds":
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				return Result{}, fmt.Errorf("%s:%d: seconds: %q is not a whole number of seconds", path, line, value)
			}
			r.Seconds = n
		case strings.HasPrefix(key, "figure.") && len(key) > len("figure."):
			r.Figures[strings.TrimPrefix(key, "figure.")] = value
		default:
			return Result{}, fmt.Errorf("%s:%d: unknown key %q", path, line, key)
		}
	}
	if err := sc.Err(); err != nil {
		return Result{}, fmt.Errorf("read %s: %w", path, err)
	}
	if r.Status == "" {
		return Result{}, fmt.Errorf("%s: no status line", path)
	}
	return r, nil
}

// FigureText renders figures sorted by name, for test logs.
func (r Result) FigureText() string {
	names := make([]string, 0, len(r.Figures))
	for k := range r.Figures {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, k := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%s", k, r.Figures[k])
	}
	return b.String()
}

// ImageKey names the cached image built from recipe: the first 16 hex digits
// of its sha256. Any change to the recipe is a new image.
func ImageKey(recipe []byte) string {
	sum := sha256.Sum256(recipe)
	return hex.EncodeToString(sum[:])[:16]
}
