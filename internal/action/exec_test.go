package action

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
)

func hookEvent() report.Event {
	return report.Event{Kind: report.LevelChanged, Message: "x entered high", Time: now,
		Fields: map[string]string{report.FieldUnit: "fluent-bit.service", report.FieldLevel: "high"}}
}

func TestExecPassesEventAsEnvAndJSON(t *testing.T) {
	spec := &policy.Exec{Command: []string{"/bin/sh", "-c", `echo "$MEMRELIEF_UNIT $MEMRELIEF_LEVEL $MEMRELIEF_EVENT"; cat`}, Timeout: policy.Duration(5 * time.Second)}
	o := Exec(context.Background(), newFake(), spec, hookEvent())
	if o.Result != report.ResultOK || o.Err != nil {
		t.Fatalf("%+v", o)
	}
	if !strings.HasPrefix(o.Output, "fluent-bit.service high level_changed\n") || !strings.Contains(o.Output, `"UNIT":"fluent-bit.service"`) ||
		!strings.Contains(o.Output, `"message_id":"`+report.LevelChanged.MessageID()+`"`) {
		t.Fatalf("output %q", o.Output)
	}
}

func TestExecNoShellUnlessAsked(t *testing.T) {
	// Without Shell, "$HOME; echo" is one literal argument to echo.
	o := Exec(context.Background(), newFake(), &policy.Exec{Command: []string{"/bin/echo", "$MEMRELIEF_UNIT; echo x"}}, hookEvent())
	if strings.TrimSpace(o.Output) != "$MEMRELIEF_UNIT; echo x" {
		t.Fatalf("argv went through a shell: %q", o.Output)
	}
	o = Exec(context.Background(), newFake(), &policy.Exec{Command: []string{"echo $MEMRELIEF_UNIT"}, Shell: true}, hookEvent())
	if strings.TrimSpace(o.Output) != "fluent-bit.service" {
		t.Fatalf("shell: %q", o.Output)
	}
}

func TestExecTimeoutAndFailure(t *testing.T) {
	o := Exec(context.Background(), newFake(), &policy.Exec{Command: []string{"/bin/sleep", "10"}, Timeout: policy.Duration(100 * time.Millisecond)}, hookEvent())
	if o.Result != report.ResultFailed || !strings.Contains(o.Err.Error(), "killed after") {
		t.Fatalf("timeout: %+v", o)
	}
	o = Exec(context.Background(), newFake(), &policy.Exec{Command: []string{"/bin/false"}}, hookEvent())
	if o.Result != report.ResultFailed || o.ExitCode != 1 {
		t.Fatalf("false: %+v", o)
	}
	o = Exec(context.Background(), newFake(), &policy.Exec{Command: []string{"/nonexistent/hook"}}, hookEvent())
	if o.Result != report.ResultFailed {
		t.Fatalf("missing binary: %+v", o)
	}
	dry := newFake()
	dry.setDry(true)
	o = Exec(context.Background(), dry, &policy.Exec{Command: []string{"/bin/false"}}, hookEvent())
	if o.Result != report.ResultDryRun {
		t.Fatalf("dry run ran the hook: %+v", o)
	}
}

// alive reports whether the process whose pid a hook wrote to file lives.
func alive(t *testing.T, file string) bool {
	t.Helper()
	var data []byte
	for range 100 {
		data, _ = os.ReadFile(file)
		if len(data) > 0 && data[len(data)-1] == '\n' {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("no pid from the hook: %q", data)
	}
	for range 100 {
		// Killed but not yet reaped by its new parent is as good as gone.
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func TestExecLeavesNothingRunning(t *testing.T) {
	for _, tt := range []struct {
		name    string
		script  string
		timeout time.Duration
		result  string
	}{
		// The hook exits at once, its background child would run on.
		{"exited", `sleep 60 & echo $! >"$PIDFILE"; exit 0`, 5 * time.Second, report.ResultOK},
		// The hook hangs; at the timeout the whole group goes.
		{"timeout", `sleep 60 & echo $! >"$PIDFILE"; wait`, 300 * time.Millisecond, report.ResultFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pidfile := filepath.Join(t.TempDir(), "pid")
			t.Setenv("PIDFILE", pidfile)
			spec := &policy.Exec{Command: []string{"PIDFILE=" + pidfile + "; " + tt.script}, Shell: true, Timeout: policy.Duration(tt.timeout)}
			o := Exec(context.Background(), newFake(), spec, hookEvent())
			if o.Result != tt.result {
				t.Fatalf("%+v", o)
			}
			if alive(t, pidfile) {
				t.Fatal("the hook's child outlived it")
			}
		})
	}
}

func TestExecKilledAtShutdownSaysSo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	o := Exec(ctx, newFake(), &policy.Exec{Command: []string{"/bin/sleep", "30"}, Timeout: policy.Duration(10 * time.Minute)}, hookEvent())
	if o.Result != report.ResultFailed || !strings.Contains(o.Err.Error(), "memrelief is stopping") || strings.Contains(o.Err.Error(), "10m") {
		t.Fatalf("%+v", o)
	}
	if o.Duration > 5*time.Second {
		t.Fatalf("reported %v for a hook killed after 200ms", o.Duration)
	}
}
