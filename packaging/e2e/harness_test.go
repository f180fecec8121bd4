package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseResult(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Result
		wantErr string
	}{
		{
			name: "pass with figures",
			in:   "figure.peak_with_bytes=1048576\nfigure.levels=high \nstatus=pass\nmessage=bounded at 1 MB\nseconds=52\n",
			want: Result{Status: Pass, Message: "bounded at 1 MB", Seconds: 52,
				Figures: map[string]string{"peak_with_bytes": "1048576", "levels": "high "}},
		},
		{
			name: "runner status after the scenario's is ignored",
			in:   "status=skip\nmessage=memrelief run not available yet (issue 4: engine/run)\nstatus=fail\nmessage=exited 1 without a result\nseconds=0\n",
			want: Result{Status: Skip, Message: "memrelief run not available yet (issue 4: engine/run)", Figures: map[string]string{}},
		},
		{
			name: "message may hold equals signs",
			in:   "status=fail\nmessage=want a=b got a=c\n",
			want: Result{Status: Fail, Message: "want a=b got a=c", Figures: map[string]string{}},
		},
		{name: "no status", in: "message=hello\n", wantErr: "r.result: no status line"},
		{name: "bad status", in: "status=ok\n", wantErr: `r.result:1: status: "ok" is not pass, fail or skip`},
		{name: "not key=value", in: "status=pass\nhello\n", wantErr: `r.result:2: want key=value, got "hello"`},
		{name: "unknown key", in: "status=pass\nfigures.x=1\n", wantErr: `r.result:2: unknown key "figures.x"`},
		{name: "empty figure name", in: "status=pass\nfigure.=1\n", wantErr: `r.result:2: unknown key "figure."`},
		{name: "bad seconds", in: "status=pass\nseconds=-3\n", wantErr: `r.result:2: seconds: "-3" is not a whole number of seconds`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseResult("r.result", []byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.want.Status || got.Message != tt.want.Message || got.Seconds != tt.want.Seconds ||
				got.FigureText() != tt.want.FigureText() {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseScenarioHeader(t *testing.T) {
	tests := []struct {
		name          string
		in            string
		wantModes     string
		wantSec       int
		wantOnRequest bool
		wantErr       string
	}{
		{name: "ok", in: "# what\n# modes: hybrid legacy\n# timeout: 150\n. lib.sh\n", wantModes: "hybrid legacy", wantSec: 150},
		{name: "unknown mode", in: "# modes: unified v1\n# timeout: 9\n", wantErr: `s.sh:1: modes: unknown mode "v1" (want unified, hybrid or legacy)`},
		{name: "empty modes", in: "# modes:\n# timeout: 9\n", wantErr: "s.sh:1: modes: empty"},
		{name: "no modes", in: "# timeout: 9\n", wantErr: `s.sh: no "# modes:" line`},
		{name: "no timeout", in: "# modes: unified\n", wantErr: `s.sh: no "# timeout:" line`},
		{name: "bad timeout", in: "# modes: unified\n# timeout: 2m\n", wantErr: `s.sh:2: timeout: "2m" is not a number of seconds in 1..1800`},
		{name: "twice", in: "# modes: unified\n# modes: hybrid\n# timeout: 1\n", wantErr: "s.sh:2: modes: given twice"},
		{name: "on request", in: "# modes: unified\n# timeout: 9\n# run: on request\n", wantModes: "unified", wantSec: 9, wantOnRequest: true},
		{name: "bad run", in: "# modes: unified\n# timeout: 9\n# run: nightly\n", wantErr: `s.sh:3: run: "nightly" (the only value is "on request")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseScenarioHeader("s.sh", []byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got.Modes, " ") != tt.wantModes || got.TimeoutSec != tt.wantSec || got.Name != "s" || got.OnRequest != tt.wantOnRequest {
				t.Errorf("got %+v", got)
			}
		})
	}
}

// TestScenarios checks the real scenario set: every script parses, every
// mode has scenarios, and the unified boot fits the 20-minute stage budget.
func TestScenarios(t *testing.T) {
	ss, err := LoadScenarios("scenarios")
	if err != nil {
		t.Fatal(err)
	}
	totalSec := 0
	for _, m := range Modes() {
		n := 0
		sec := bootOverheadSec
		for _, s := range ss {
			if s.In(m.Name) && !s.OnRequest {
				n++
				sec += s.TimeoutSec + 15
			}
		}
		if n == 0 {
			t.Errorf("no scenario runs in mode %s", m.Name)
		}
		totalSec += sec
	}
	// The worst case (every scenario hits its timeout) is the harness's hard
	// bound; keep it inside the test timeout `make e2e` sets (88m), which
	// with the ~5 minutes before it stays inside CI's 90.
	if totalSec > 88*60 {
		t.Errorf("worst-case e2e time %ds exceeds the 88 min test timeout", totalSec)
	}
	for _, s := range ss {
		data, err := os.ReadFile(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), `. "$SHARE/scenarios/lib.sh"`) {
			t.Errorf("%s does not source lib.sh", s.Path)
		}
	}
}

func TestImageKeyFollowsRecipe(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("image", "build.sh"))
	if err != nil {
		t.Fatal(err)
	}
	a := ImageKey(data)
	b := ImageKey(append(data, '\n'))
	if len(a) != 16 || a == b {
		t.Errorf("ImageKey = %q and %q for different recipes", a, b)
	}
}

func FuzzParseResult(f *testing.F) {
	f.Add([]byte("status=pass\nmessage=ok\nfigure.x=1\nseconds=3\n"))
	f.Add([]byte("status=maybe\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseResult("f", data)
		if err == nil && r.Status != Pass && r.Status != Fail && r.Status != Skip {
			t.Fatalf("accepted status %q", r.Status)
		}
	})
}

func FuzzParseScenarioHeader(f *testing.F) {
	f.Add([]byte("# modes: unified\n# timeout: 10\n"))
	f.Add([]byte("# modes: hybrid bogus\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseScenarioHeader("f.sh", data)
		if err == nil && (len(s.Modes) == 0 || s.TimeoutSec <= 0) {
			t.Fatalf("accepted %+v", s)
		}
	})
}

// TestE2EPolicyValid keeps the scenarios' policy in step with the policy
// format: the guest would otherwise fail every remediation scenario at start.
func TestE2EPolicyValid(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/memrelief; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "memrelief")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/memrelief")
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("cmd/memrelief does not build (another package mid-edit?), policy-e2e.toml NOT checked: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "check", filepath.Join("scenarios", "policy-e2e.toml")).CombinedOutput()
	if err != nil {
		t.Errorf("memrelief check scenarios/policy-e2e.toml: %v\n%s", err, out)
	}
}

// TestThresholdsInStep keeps the figures scenarios judge by (lib.sh) equal
// to the thresholds of the policy the daemon runs with in the guest.
func TestThresholdsInStep(t *testing.T) {
	policy, err := os.ReadFile(filepath.Join("scenarios", "policy-e2e.toml"))
	if err != nil {
		t.Fatal(err)
	}
	lib, err := os.ReadFile(filepath.Join("scenarios", "lib.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]string{
		{`"slab_reclaimable >= 48M"`, "SLAB_THRESHOLD=$((48 * 1048576))"},
		{`"psi_some_avg10 >= 5%"`, "PSI_THRESHOLD=5\n"},
	} {
		if !strings.Contains(string(policy), pair[0]) || !strings.Contains(string(lib), pair[1]) {
			t.Errorf("policy-e2e.toml condition %s and lib.sh %q must change together", pair[0], strings.TrimSpace(pair[1]))
		}
	}
}

func TestPickScenarios(t *testing.T) {
	all := []Scenario{{Name: "01a-detect"}, {Name: "11-act-path"}, {Name: "14-vs-oomd", OnRequest: true}}
	names := func(ss []Scenario) string {
		var out []string
		for _, s := range ss {
			out = append(out, s.Name)
		}
		return strings.Join(out, " ")
	}
	for _, tt := range []struct{ prefixes, want string }{
		{"", "01a-detect 11-act-path"}, // a measurement runs only on request
		{"11", "11-act-path"},
		{"14", "14-vs-oomd"},
		{"01 14-vs", "01a-detect 14-vs-oomd"},
	} {
		if got := names(pickScenarios(all, strings.Fields(tt.prefixes))); got != tt.want {
			t.Errorf("pickScenarios(%q) = %q, want %q", tt.prefixes, got, tt.want)
		}
	}
}
