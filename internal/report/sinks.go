package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/coreos/go-systemd/v22/journal"
)

// Text writes events as one line each: time, priority, message, then the
// fields as KEY=value in sorted order (values quoted when they hold spaces).
type Text struct {
	mu sync.Mutex
	W  io.Writer // guarded by mu
	// MinPriority drops events less important than it (Debug shows all).
	MinPriority Priority
}

var prioNames = map[Priority]string{Err: "error", Warning: "warning", Notice: "notice", Info: "info", Debug: "debug"}

// Emit implements Sink.
func (t *Text) Emit(e Event) {
	if e.Priority > t.MinPriority {
		return
	}
	var b strings.Builder
	b.WriteString(e.Time.UTC().Format("2006-01-02T15:04:05.000Z"))
	b.WriteByte(' ')
	b.WriteString(prioNames[e.Priority])
	b.WriteByte(' ')
	b.WriteString(e.Message)
	for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
		v := e.Fields[k]
		if strings.ContainsAny(v, " \t\"=") || v == "" {
			v = strconv.Quote(v)
		}
		fmt.Fprintf(&b, " %s=%s", k, v)
	}
	b.WriteByte('\n')
	t.mu.Lock()
	defer t.mu.Unlock()
	io.WriteString(t.W, b.String())
}

// Journal writes events to journald through its native protocol, with
// MESSAGE_ID and the fields as journal fields.
type Journal struct {
	MinPriority Priority
	// Fallback receives events the journal refused (socket gone), so none
	// is lost silently.
	Fallback Sink
}

// JournalAvailable reports whether journald's socket is there.
func JournalAvailable() bool { return journal.Enabled() }

// Emit implements Sink.
func (j *Journal) Emit(e Event) {
	if e.Priority > j.MinPriority {
		return
	}
	vars := make(map[string]string, len(e.Fields)+2)
	for k, v := range e.Fields {
		vars[k] = v
	}
	if id := e.Kind.MessageID(); id != "" {
		vars["MESSAGE_ID"] = id
	}
	vars["MEMRELIEF_EVENT"] = string(e.Kind)
	// journal.Send leaves SYSLOG_IDENTIFIER unset; journalctl -t, and
	// node-problem-detector's journald source, select on it.
	vars["SYSLOG_IDENTIFIER"] = "memrelief"
	if err := journal.Send(e.Message, journal.Priority(e.Priority), vars); err != nil && j.Fallback != nil {
		j.Fallback.Emit(e)
	}
}

// ParsePriority reads a log level name of the policy (debug, info, warn,
// error).
func ParsePriority(level string) (Priority, error) {
	switch level {
	case "debug":
		return Debug, nil
	case "info", "":
		return Info, nil
	case "notice":
		return Notice, nil
	case "warn", "warning":
		return Warning, nil
	case "error":
		return Err, nil
	}
	return 0, fmt.Errorf("unknown log level %q (want debug, info, warn or error)", level)
}

var (
	_ Sink = (*Text)(nil)
	_ Sink = (*Journal)(nil)
)
