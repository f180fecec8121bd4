package action

import (
	"context"
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
