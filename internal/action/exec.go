package action

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"time"

	"github.com/memrelief/memrelief/internal/policy"
	"github.com/memrelief/memrelief/internal/report"
)

// maxHookOutput bounds what a hook may print into the journal.
const maxHookOutput = 16 << 10

// ExecOutcome is what a hook did.
type ExecOutcome struct {
	Result   string
	ExitCode int
	Output   string // stdout and stderr, cut at maxHookOutput
	Duration time.Duration
	Err      error
}

// Exec runs a hook with the event as MEMRELIEF_<FIELD> environment variables
// and as JSON on standard input. The command runs directly, not through a
// shell, unless spec.Shell asks for /bin/sh -c. It is killed after
// spec.Timeout. In dry run nothing runs.
func Exec(ctx context.Context, sys System, spec *policy.Exec, ev report.Event) ExecOutcome {
	if len(spec.Command) == 0 {
		return ExecOutcome{Result: report.ResultFailed, Err: errors.New("exec hook without a command")}
	}
	if sys.DryRun() {
		return ExecOutcome{Result: report.ResultDryRun}
	}
	timeout := spec.Timeout.Std()
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	argv := spec.Command
	if spec.Shell {
		argv = []string{"/bin/sh", "-c", spec.Command[0]}
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = hookEnv(ev)
	payload, _ := json.Marshal(hookPayload(ev))
	cmd.Stdin = bytes.NewReader(payload)
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	start := time.Now()
	err := cmd.Run()
	o := ExecOutcome{Duration: time.Since(start), Output: out.String(), ExitCode: cmd.ProcessState.ExitCode()}
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		o.Result, o.Err = report.ResultFailed, fmt.Errorf("%s: killed after %v", argv[0], timeout)
	case err != nil:
		o.Result, o.Err = report.ResultFailed, fmt.Errorf("%s: %w", argv[0], err)
	default:
		o.Result = report.ResultOK
	}
	return o
}

func hookEnv(ev report.Event) []string {
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"MEMRELIEF_EVENT=" + string(ev.Kind), "MEMRELIEF_MESSAGE=" + ev.Message}
	keys := make([]string, 0, len(ev.Fields))
	for k := range ev.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, "MEMRELIEF_"+k+"="+ev.Fields[k])
	}
	return env
}

func hookPayload(ev report.Event) map[string]any {
	return map[string]any{
		"event":      string(ev.Kind),
		"message_id": ev.Kind.MessageID(),
		"time":       ev.Time.UTC().Format(time.RFC3339Nano),
		"message":    ev.Message,
		"fields":     ev.Fields,
	}
}

type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxHookOutput - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
