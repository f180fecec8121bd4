package systemd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/memrelief/memrelief/internal/paths"
)

type fakeManager struct {
	v   string
	err error
}

func (f fakeManager) Version(context.Context) (string, error) { return f.v, f.err }

var _ Manager = fakeManager{}

func host(t *testing.T, comm string, runDir bool) paths.Roots {
	t.Helper()
	r := paths.Under(t.TempDir())
	if comm != "" {
		if err := os.MkdirAll(filepath.Join(r.Proc, "1"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(r.Proc, "1", "comm"), []byte(comm+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if runDir {
		if err := os.MkdirAll(filepath.Join(r.Run, "systemd", "system"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func TestProbe(t *testing.T) {
	ctx := context.Background()
	f := Probe(ctx, host(t, "systemd", true), fakeManager{v: "252.30-1~deb12u2"})
	if !f.PID1 || !f.Bus || f.Version != "252.30-1~deb12u2" || f.MajorVersion() != 252 {
		t.Errorf("systemd host: %+v (major %d)", f, f.MajorVersion())
	}
	f = Probe(ctx, host(t, "systemd", false), nil)
	if f.PID1 {
		t.Error("PID1 true without /run/systemd/system (not booted by systemd)")
	}
	if !errors.Is(f.BusErr, ErrNoBus) || f.Bus {
		t.Errorf("nil manager: %+v", f)
	}
	f = Probe(ctx, host(t, "process_api", false), fakeManager{err: errors.New("no socket")})
	if f.PID1 || f.PID1Comm != "process_api" || f.Bus || f.BusErr == nil || f.MajorVersion() != 0 {
		t.Errorf("non-systemd host: %+v", f)
	}
	f = Probe(ctx, host(t, "", false), nil)
	if f.PID1 || f.PID1Comm != "" {
		t.Errorf("no /proc/1: %+v", f)
	}
}
