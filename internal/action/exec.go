package action

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"syscall"
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
// shell, unless spec.Shell asks for /bin/sh -c. It runs in a process group of
// its own, and the whole group is killed after spec.Timeout, when ctx ends
// (memrelief stopping), and when the hook exits, so nothing it started
// outlives it. In dry run nothing runs.
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
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	argv := spec.Command
	if spec.Shell {
		argv = []string{"/bin/sh", "-c", spec.Command[0]}
	}
	cmd := exec.CommandContext(hctx, argv[0], argv[1:]...)
	cmd.Env = hookEnv(ev)
	payload, _ := json.Marshal(hookPayload(ev))
	cmd.Stdin = bytes.NewReader(payload)
	// The output goes through a pipe of our own, not one exec manages:
	// Wait then returns when the hook exits, even while something it left
	// behind holds the pipe; the group is killed, and the pipe drains.
	rd, wr, err := os.Pipe()
	if err != nil {
		return ExecOutcome{Result: report.ResultFailed, Err: fmt.Errorf("%s: output pipe: %w", argv[0], err)}
	}
	defer rd.Close()
	cmd.Stdout, cmd.Stderr = wr, wr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd) }
	var out limitedBuffer
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		io.Copy(&out, rd)
	}()
	start := time.Now()
	err = cmd.Start()
	wr.Close()
	if err == nil {
		err = cmd.Wait()
		killGroup(cmd) // what the hook left running in the background
	}
	select {
	case <-drained:
	case <-time.After(time.Second): // a process that escaped the group
		rd.Close()
		<-drained
	}
	o := ExecOutcome{Duration: time.Since(start), Output: out.String(), ExitCode: cmd.ProcessState.ExitCode()}
	elapsed := o.Duration.Round(time.Millisecond)
	switch {
	case errors.Is(hctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		o.Result, o.Err = report.ResultFailed, fmt.Errorf("%s: killed after %v (timeout %v)", argv[0], elapsed, timeout)
	case ctx.Err() != nil:
		o.Result, o.Err = report.ResultFailed, fmt.Errorf("%s: killed after %v: memrelief is stopping", argv[0], elapsed)
	case err != nil:
		o.Result, o.Err = report.ResultFailed, fmt.Errorf("%s: %w", argv[0], err)
	default:
		o.Result = report.ResultOK
	}
	return o
}

// killGroup kills the hook's process group. The group outlives its leader
// while any member lives, so this also reaches the hook's children after it
// exited.
func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
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
