package detect_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/cgroupfs"
	"github.com/memrelief/memrelief/internal/systemd"
)

// fakeManager answers systemd's Version over a pretend bus.
type fakeManager struct {
	version string
	err     error
}

func (f fakeManager) Version(context.Context) (string, error) { return f.version, f.err }

var _ systemd.Manager = fakeManager{}

// statfsOf poses as a host whose mounts have the magic numbers the
// flavour's CAPTURED file records; paths not listed fail like a missing
// mount point.
func statfsOf(magic map[string]int64) cgroupfs.StatFS {
	return func(path string) (int64, error) {
		for suffix, m := range magic {
			if strings.HasSuffix(path, suffix) {
				return m, nil
			}
		}
		return 0, &fs.PathError{Op: "statfs", Path: path, Err: fs.ErrNotExist}
	}
}

// ext4 stands for the file system a checkout lives on: neither cgroup2 nor
// tmpfs, so the layout is inferred from the files present.
func ext4(string) (int64, error) { return 0xef53, nil }

func readFixture(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read fixture file: %v", err)
	}
	return string(data)
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The drivers the fixture's own configuration files set, read with
// patterns independent of the driver package's parsers. "" means the file
// is absent.
var (
	kubeletDriverRE    = regexp.MustCompile(`(?m)^cgroupDriver:\s*(\S+)`)
	containerdDriverRE = regexp.MustCompile(`(?m)^\s*SystemdCgroup\s*=\s*(true|false)`)
	crioDriverRE       = regexp.MustCompile(`(?m)^\s*cgroup_manager\s*=\s*"(\w+)"`)
)

func configuredDriver(t *testing.T, dir, component string) string {
	t.Helper()
	var file string
	switch component {
	case "kubelet":
		file = filepath.Join(dir, "var/lib/kubelet/config.yaml")
	case "containerd":
		file = filepath.Join(dir, "etc/containerd/config.toml")
	case "crio":
		file = filepath.Join(dir, "etc/crio/crio.conf")
	case "docker":
		file = filepath.Join(dir, "etc/docker/daemon.json")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	s := string(data)
	switch component {
	case "kubelet":
		if m := kubeletDriverRE.FindStringSubmatch(s); m != nil {
			return m[1]
		}
	case "containerd":
		if m := containerdDriverRE.FindStringSubmatch(s); m != nil {
			return map[string]string{"true": "systemd", "false": "cgroupfs"}[m[1]]
		}
	case "crio":
		if m := crioDriverRE.FindStringSubmatch(s); m != nil {
			return m[1]
		}
	case "docker":
		if strings.Contains(s, "native.cgroupdriver=systemd") {
			return "systemd"
		}
		if strings.Contains(s, "native.cgroupdriver=cgroupfs") {
			return "cgroupfs"
		}
	}
	t.Fatalf("%s: %s sets no driver the test can read", file, component)
	return ""
}
