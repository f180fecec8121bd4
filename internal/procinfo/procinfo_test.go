package procinfo

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/memrelief/memrelief/internal/fixtures"
)

func TestReadMeminfoRealFixture(t *testing.T) {
	mi, err := ReadMeminfo(fixtures.Roots("hybrid-dev").Proc)
	if err != nil {
		t.Fatal(err)
	}
	if mi.MemTotal < 1<<30 || mi.MemAvailable == 0 || mi.MemAvailable > mi.MemTotal || mi.SReclaimable == 0 {
		t.Errorf("implausible meminfo from a real host: %+v", mi)
	}
	if mi.MemTotal%1024 != 0 {
		t.Errorf("MemTotal %d is not in bytes (kB * 1024)", mi.MemTotal)
	}
}

func writeProc(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestReadMeminfoMissingKeys(t *testing.T) {
	root := writeProc(t, map[string]string{"meminfo": "MemTotal:       1000 kB\nMemFree: 10 kB\n"})
	_, err := ReadMeminfo(root)
	if err == nil || !strings.Contains(err.Error(), "missing MemAvailable, SReclaimable, SUnreclaim") {
		t.Fatalf("error = %v", err)
	}
	root = writeProc(t, map[string]string{"meminfo": "MemTotal: x kB\n"})
	if _, err := ReadMeminfo(root); err == nil {
		t.Fatal("malformed meminfo accepted")
	}
}

func TestParseDentryState(t *testing.T) {
	d, err := ParseDentryState([]byte("57819\t56412\t45\t0\t8819\t0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d.NrDentry != 57819 || d.NrUnused != 56412 || d.AgeLimitSec != 45 || d.NrNegative != 8819 || !d.HasNegative {
		t.Errorf("got %+v", d)
	}
	for _, bad := range []string{"", "1 2 3 4 5", "1 2 3 4 5 6 7", "1 2 3 4 x 6", "-1 2 3 4 5 6"} {
		if _, err := ParseDentryState([]byte(bad)); err == nil {
			t.Errorf("ParseDentryState(%q) accepted", bad)
		}
	}
	if _, err := ReadDentryState(fixtures.Roots("hybrid-dev").Proc); err != nil {
		t.Errorf("real fixture: %v", err)
	}
}

func TestKernelVersion(t *testing.T) {
	for in, want := range map[string][2]int{"6.1.0-26-amd64": {6, 1}, "6.18.44-fc-v669": {6, 18}, "5.15.0": {5, 15}, "4.19": {4, 19}} {
		maj, min, err := KernelVersion(in)
		if err != nil || maj != want[0] || min != want[1] {
			t.Errorf("KernelVersion(%q) = %d.%d, %v", in, maj, min, err)
		}
	}
	for _, bad := range []string{"6", "x.1", "6.y", ""} {
		if _, _, err := KernelVersion(bad); err == nil {
			t.Errorf("KernelVersion(%q) accepted", bad)
		}
	}
}

// Reads this test process through the real /proc, with an inotify instance
// holding three watches, as a log agent holds one per watched directory.
func TestReadProcessCountsInotifyWatches(t *testing.T) {
	if _, err := os.Stat("/proc/self/fdinfo"); err != nil {
		t.Skipf("SKIP: no /proc/self/fdinfo on this host: %v", err)
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		t.Fatalf("inotify_init1: %v", err)
	}
	defer unix.Close(fd)
	for range 3 {
		if _, err := unix.InotifyAddWatch(fd, t.TempDir(), unix.IN_CREATE); err != nil {
			t.Fatal(err)
		}
	}
	before, err := ReadProcess("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if before.InotifyErr != nil {
		t.Fatal(before.InotifyErr)
	}
	if before.InotifyInstances < 1 || before.InotifyWatches < 3 {
		t.Errorf("instances %d watches %d, want >= 1 and >= 3", before.InotifyInstances, before.InotifyWatches)
	}
	if before.RSS() == 0 || before.RSSAnon == 0 || before.Comm == "" || len(before.Cmdline) == 0 {
		t.Errorf("process figures missing: %+v", before)
	}
	if _, err := unix.InotifyAddWatch(fd, t.TempDir(), unix.IN_CREATE); err != nil {
		t.Fatal(err)
	}
	after, _ := ReadProcess("/proc", os.Getpid())
	if after.InotifyWatches != before.InotifyWatches+1 {
		t.Errorf("watches %d after adding one to %d", after.InotifyWatches, before.InotifyWatches)
	}
}

func TestReadProcessGone(t *testing.T) {
	_, err := ReadProcess(t.TempDir(), 424242)
	if !errors.Is(err, ErrNoProcess) {
		t.Fatalf("error = %v, want ErrNoProcess", err)
	}
}

func FuzzParseDentryState(f *testing.F) {
	f.Add([]byte("57819\t56412\t45\t0\t8819\t0\n"))
	f.Add([]byte("1 2 3"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDentryState(data)
		if err != nil && d != (DentryState{}) {
			t.Fatalf("partial result with error: %+v", d)
		}
	})
}

// meminfo is parsed by prometheus/procfs; the fuzz target checks that our
// wrapper turns anything odd into an error, never a panic or a zero node.
func FuzzReadMeminfo(f *testing.F) {
	seed, _ := os.ReadFile(filepath.Join(fixtures.Roots("hybrid-dev").Proc, "meminfo"))
	f.Add(seed)
	f.Add([]byte("MemTotal: 1 kB\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, "meminfo"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		mi, err := ReadMeminfo(dir)
		if err == nil && mi.MemTotal == 0 && !strings.Contains(string(data), "MemTotal") {
			t.Fatal("accepted meminfo without MemTotal")
		}
	})
}

// fdinfo is parsed by prometheus/procfs; this checks our counting on
// arbitrary fdinfo contents never panics and never reports watches from a
// file that is not inotify fdinfo.
func FuzzCountInotify(f *testing.F) {
	f.Add([]byte("pos:\t0\nflags:\t02000000\nmnt_id:\t15\nino:\t1057\ninotify wd:1 ino:2 sdev:3 mask:100 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:0200000000000000\n"))
	f.Add([]byte("pos: 0\n"))
	root := f.TempDir()
	fdDir := filepath.Join(root, "1", "fd")
	if err := os.MkdirAll(filepath.Join(root, "1", "fdinfo"), 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.MkdirAll(fdDir, 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.Symlink("anon_inode:inotify", filepath.Join(fdDir, "3")); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "1", "status"), []byte("Name:\tx\nPid:\t1\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(root, "1", "fdinfo", "3"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := ReadProcess(root, 1)
		if err != nil {
			return
		}
		if p.InotifyErr == nil && p.InotifyWatches > strings.Count(string(data), "inotify") {
			t.Fatalf("counted %d watches from %d inotify lines", p.InotifyWatches, strings.Count(string(data), "inotify"))
		}
	})
}
