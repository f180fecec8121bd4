package driver

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memrelief/memrelief/internal/paths"
)

func TestParseKubeletConfig(t *testing.T) {
	const head = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
	for _, tc := range []struct {
		name, in string
		driver   Driver
		line     int
		endpoint string
		err      string // substring; "" means success
	}{
		{name: "systemd", in: head + "cgroupDriver: systemd\n", driver: Systemd, line: 3},
		{name: "cgroupfs double quoted", in: head + "cgroupDriver: \"cgroupfs\"\n", driver: Cgroupfs, line: 3},
		{name: "single quoted with comment", in: head + "cgroupDriver: 'systemd' # why\n", driver: Systemd, line: 3},
		{name: "commented out", in: head + "# cgroupDriver: systemd\n", driver: Unknown},
		{name: "absent", in: head + "clusterDomain: cluster.local\n", driver: Unknown},
		{name: "null", in: head + "cgroupDriver:\n", driver: Unknown},
		{name: "empty string", in: head + "cgroupDriver: \"\"\n", driver: Unknown},
		{name: "nested key does not count", in: head + "logging:\n  cgroupDriver: systemd\n", driver: Unknown},
		{name: "flow style", in: "{kind: KubeletConfiguration, cgroupDriver: systemd}\n", driver: Systemd, line: 1},
		{name: "anchor and alias", in: head + "x: &d systemd\ncgroupDriver: *d\n", driver: Systemd, line: 4},
		{name: "endpoint", in: head + "containerRuntimeEndpoint: unix:///run/containerd/containerd.sock\n", endpoint: "unix:///run/containerd/containerd.sock"},
		{name: "second document ignored", in: head + "cgroupDriver: systemd\n---\nkind: KubeletConfiguration\ncgroupDriver: cgroupfs\n", driver: Systemd, line: 3},
		{name: "bad value", in: head + "cgroupDriver: system\n", err: `line 3: key cgroupDriver: "system" is neither systemd nor cgroupfs`},
		{name: "case matters", in: head + "cgroupDriver: Systemd\n", err: "line 3: key cgroupDriver"},
		{name: "list value", in: head + "cgroupDriver:\n- systemd\n", err: "line 3: key cgroupDriver: want a string, got a sequence"},
		{name: "duplicate", in: head + "cgroupDriver: systemd\ncgroupDriver: cgroupfs\n", err: "line 4: key cgroupDriver repeats line 3"},
		{name: "wrong kind", in: "kind: KubeProxyConfiguration\ncgroupDriver: systemd\n", err: `line 1: key kind: "KubeProxyConfiguration", want KubeletConfiguration`},
		{name: "no kind", in: "cgroupDriver: systemd\n", err: `key kind: "", want KubeletConfiguration`},
		{name: "empty", in: "", err: "empty"},
		{name: "only comments", in: "# nothing\n", err: "empty"},
		{name: "not a mapping", in: "- a\n- b\n", err: "line 1: top level is not a mapping"},
		{name: "syntax error", in: head + "cgroupDriver: [systemd\n", err: "line "},
		{name: "tab indentation", in: head + "authentication:\n\tanonymous: {}\n", err: "line 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseKubeletConfig([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.driver != tc.driver || cfg.driverLine != tc.line || cfg.endpoint != tc.endpoint {
				t.Errorf("got driver=%q line=%d endpoint=%q, want %q %d %q", cfg.driver, cfg.driverLine, cfg.endpoint, tc.driver, tc.line, tc.endpoint)
			}
		})
	}
}

func TestParseContainerdConfig(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		version  int64
		runtime  string
		systemd  map[string]boolAt
		imports  []string
		err      string
	}{
		{name: "1.x", in: "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n  SystemdCgroup = true\n",
			version: 2, systemd: map[string]boolAt{"runc": {true, 3}}},
		{name: "2.x", in: "version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n  SystemdCgroup = true\n",
			version: 3, systemd: map[string]boolAt{"runc": {true, 3}}},
		{name: "2.x key under 1.x layout is ignored", in: "version = 3\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n  SystemdCgroup = true\n",
			version: 3, systemd: map[string]boolAt{}},
		{name: "version 1 layout", in: "[plugins.cri.containerd.runtimes.runc.options]\nSystemdCgroup = false\n",
			version: 1, systemd: map[string]boolAt{"runc": {false, 2}}},
		{name: "dotted key in runtime table", in: "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\noptions.SystemdCgroup = true\n",
			version: 2, systemd: map[string]boolAt{"runc": {true, 3}}},
		{name: "inline table", in: "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes]\nrunc = { runtime_type = \"io.containerd.runc.v2\", options = { SystemdCgroup = true } }\n",
			version: 2, systemd: map[string]boolAt{"runc": {true, 3}}},
		{name: "other default runtime", in: "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\ndefault_runtime_name = \"crun\"\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.crun.options]\nSystemdCgroup = true\n",
			version: 2, runtime: "crun", systemd: map[string]boolAt{"crun": {true, 5}}},
		{name: "imports", in: "version = 2\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n", version: 2, systemd: map[string]boolAt{},
			imports: []string{"/etc/containerd/conf.d/*.toml"}},
		{name: "empty file", in: "", version: 1, systemd: map[string]boolAt{}},
		{name: "string bool", in: "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\nSystemdCgroup = \"true\"\n",
			err: `line 3: key plugins.io.containerd.grpc.v1.cri.containerd.runtimes.runc.options.SystemdCgroup: want a boolean, got string`},
		{name: "bad version", in: "version = 4\n", err: "line 1: key version: unsupported config version 4"},
		{name: "string version", in: "version = \"2\"\n", err: "line 1: key version: want an integer"},
		{name: "plugins not a table", in: "version = 2\nplugins = 1\n", err: "line 2: key plugins: want a table"},
		{name: "syntax", in: "version = 2\nx = = 1\n", err: "toml: line 2"},
		{name: "duplicate key", in: "version = 2\nversion = 3\n", err: "line 2"},
		{name: "imports not strings", in: "imports = [1]\n", err: "line 1: key imports"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseContainerdConfig([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.version != tc.version || f.defaultRuntime != tc.runtime || len(f.systemdCgroup) != len(tc.systemd) || strings.Join(f.imports, ",") != strings.Join(tc.imports, ",") {
				t.Fatalf("got %+v", f)
			}
			for k, v := range tc.systemd {
				if f.systemdCgroup[k] != v {
					t.Errorf("runtime %s: got %+v, want %+v", k, f.systemdCgroup[k], v)
				}
			}
		})
	}
}

func TestParseCRIOConfig(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		driver   Driver
		line     int
		err      string
	}{
		{name: "systemd", in: "[crio.runtime]\ncgroup_manager = \"systemd\"\n", driver: Systemd, line: 2},
		{name: "cgroupfs literal string", in: "[crio]\n[crio.runtime]\n# c\ncgroup_manager = 'cgroupfs'\n", driver: Cgroupfs, line: 4},
		{name: "absent", in: "[crio.runtime]\nconmon_cgroup = \"pod\"\n"},
		{name: "wrong table", in: "[crio.image]\ncgroup_manager = \"cgroupfs\"\n"},
		{name: "empty", in: ""},
		{name: "bad value", in: "[crio.runtime]\ncgroup_manager = \"cgroup\"\n", err: `line 2: key crio.runtime.cgroup_manager: "cgroup" is neither`},
		{name: "not a string", in: "[crio.runtime]\ncgroup_manager = true\n", err: "line 2: key crio.runtime.cgroup_manager: want a string"},
		{name: "runtime not a table", in: "[crio]\nruntime = 3\n", err: "line 2: key crio.runtime: want a table"},
		{name: "syntax", in: "[crio.runtime]\ncgroup_manager = \"systemd\n", err: "toml: line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseCRIOConfig([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.manager != tc.driver || f.line != tc.line {
				t.Errorf("got %q line %d, want %q line %d", f.manager, f.line, tc.driver, tc.line)
			}
		})
	}
}

func TestParseDockerConfig(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		driver   Driver
		line     int
		has      bool
		err      string
	}{
		{name: "systemd", in: "{\n  \"exec-opts\": [\"native.cgroupdriver=systemd\"]\n}\n", driver: Systemd, line: 2, has: true},
		{name: "multi-line array", in: "{\n \"exec-opts\": [\n  \"foo=bar\",\n  \"native.cgroupdriver=cgroupfs\"\n ]\n}", driver: Cgroupfs, line: 4, has: true},
		{name: "key case-insensitive", in: `{"exec-opts": ["Native.CgroupDriver=systemd"]}`, driver: Systemd, line: 1, has: true},
		{name: "first one wins", in: `{"exec-opts": ["native.cgroupdriver=cgroupfs", "native.cgroupdriver=systemd"]}`, driver: Cgroupfs, line: 1, has: true},
		{name: "no exec-opts", in: `{"log-driver": "json-file", "nested": {"exec-opts": ["native.cgroupdriver=systemd"]}}`},
		{name: "other opts", in: `{"exec-opts": ["native.umask=normal"]}`, has: true},
		{name: "empty object", in: `{}`},
		{name: "bad driver", in: "{\n\"exec-opts\": [\"native.cgroupdriver=none\"]}", err: `line 2: key exec-opts: native.cgroupdriver "none" is neither`},
		{name: "no equals", in: `{"exec-opts": ["native.cgroupdriver"]}`, err: `line 1: key exec-opts: "native.cgroupdriver" is not key=value`},
		{name: "not an array", in: "{\n\"exec-opts\": \"native.cgroupdriver=systemd\"}", err: "line 2: key exec-opts: want an array of strings"},
		{name: "syntax", in: "{\n\"exec-opts\": [\"a=b\",]\n}", err: "line 2: invalid character"},
		{name: "top array", in: "[]", err: "line 1"},
		{name: "null", in: "null", err: "top level is null"},
		{name: "empty file", in: "", err: "unexpected end of JSON input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseDockerConfig([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.driver != tc.driver || f.line != tc.line || f.hasExecOpts != tc.has {
				t.Errorf("got %+v, want driver %q line %d has %t", f, tc.driver, tc.line, tc.has)
			}
		})
	}
}

func TestFlagValues(t *testing.T) {
	argv := []string{"kubelet", "--config=/a", "--v=2", "--config", "/b", "-c", "/c", "--", "--config=/d"}
	if v, ok := flagValue(argv, "--config"); !ok || v != "/b" {
		t.Errorf("last --config: %q %t", v, ok)
	}
	if v, ok := flagValue(argv, "--config", "-c"); !ok || v != "/c" {
		t.Errorf("last of --config/-c: %q %t", v, ok)
	}
	if got := flagValues(argv, "--config"); strings.Join(got, ",") != "/a,/b" {
		t.Errorf("all --config: %v", got)
	}
	if _, ok := flagValue([]string{"kubelet", "--config"}, "--config"); ok {
		t.Error("a trailing flag without value was taken")
	}
	if _, ok := flagValue([]string{"kubelet", "--configx=/a"}, "--config"); ok {
		t.Error("--configx matched --config")
	}
}

func TestSplitCmdline(t *testing.T) {
	for in, want := range map[string]string{
		"kubelet\x00--config=/a\x00": "kubelet|--config=/a",
		"kubelet\x00--v=2":           "kubelet|--v=2",
		"kubelet --v=2 --x":          "kubelet --v=2 --x",
		"a\x00\x00b\x00":             "a||b",
	} {
		if got := strings.Join(splitCmdline([]byte(in)), "|"); got != want {
			t.Errorf("splitCmdline(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolve(t *testing.T) {
	roots := paths.Under("/fx")
	for in, want := range map[string]string{
		"/etc/containerd/config.toml":        "/fx/etc/containerd/config.toml",
		"/var/lib/kubelet/config.yaml":       "/fx/var/lib/kubelet/config.yaml",
		"/var/run/crio/crio.sock":            "/fx/run/crio/crio.sock",
		"/etc/../etc/kubernetes/kubelet.yml": "/fx/etc/kubernetes/kubelet.yml",
		"/etc":                               "/fx/etc",
	} {
		got, err := resolve(roots, in)
		if err != nil || got != want {
			t.Errorf("resolve(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"/opt/kube/kubelet.yaml", "/etcetera/x", "/etc/../opt/x", "config.yaml"} {
		if got, err := resolve(roots, in); err == nil {
			t.Errorf("resolve(%q) = %q, want an error", in, got)
		}
	}
	if _, err := resolve(roots, "/opt/x"); !errors.Is(err, errUnresolvable) {
		t.Errorf("outside the roots: %v, want errUnresolvable", err)
	}
	if got, err := resolve(paths.Host(), "/opt/kube/kubelet.yaml"); err != nil || got != "/opt/kube/kubelet.yaml" {
		t.Errorf("host roots: %q, %v", got, err)
	}
}

// writeTree creates files (relative path -> content) under a new root.
func writeTree(t *testing.T, files map[string]string) paths.Roots {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return paths.Under(root)
}

// TestMalformedConfigsAreReported: a broken file never stops detection; the
// component says installed, driver unknown, and the error names file and
// line.
func TestMalformedConfigsAreReported(t *testing.T) {
	roots := writeTree(t, map[string]string{
		"proc/10/cmdline":                "/usr/bin/kubelet\x00--config=/etc/kubernetes/kubelet.yaml\x00",
		"proc/11/cmdline":                "containerd\x00",
		"etc/kubernetes/kubelet.yaml":    "kind: KubeletConfiguration\ncgroupDriver: systemd\ncgroupDriver: cgroupfs\n",
		"etc/containerd/config.toml":     "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\nSystemdCgroup = yes\n",
		"etc/crio/crio.conf":             "[crio.runtime]\ncgroup_manager = \"systemd\"\n",
		"etc/crio/crio.conf.d/99-x.conf": "[crio.runtime]\ncgroup_manager = \"fs\"\n",
		"etc/docker/daemon.json":         "{\n  \"exec-opts\": [\"native.cgroupdriver=systemd\"\n}\n",
	})
	cs := Detect(t.Context(), roots, Host{})
	for i, wantErr := range []string{
		"kubelet config /etc/kubernetes/kubelet.yaml: line 3: key cgroupDriver repeats line 2",
		"containerd config /etc/containerd/config.toml: toml: line 3",
		`crio config /etc/crio/crio.conf.d/99-x.conf: line 2: key crio.runtime.cgroup_manager: "fs"`,
		"docker config /etc/docker/daemon.json: line 3: invalid character '}'",
	} {
		c := cs[i]
		if !c.Installed || c.Err == nil || !strings.Contains(c.Err.Error(), wantErr) {
			t.Errorf("%s: installed=%t err=%v, want an error containing %q", c.Name, c.Installed, c.Err, wantErr)
		}
		if c.Driver != Unknown {
			t.Errorf("%s: driver %q from a malformed config, want unknown", c.Name, c.Driver)
		}
	}
}

// TestUnresolvableConfigPath: a kubelet started with a config outside every
// root must not read this machine's file of the same name.
func TestUnresolvableConfigPath(t *testing.T) {
	roots := writeTree(t, map[string]string{
		"proc/10/cmdline": "kubelet\x00--config=/opt/kubernetes/kubelet.yaml\x00",
	})
	c := DetectKubelet(t.Context(), roots)
	if !errors.Is(c.Err, errUnresolvable) || c.Driver != Unknown || !c.Installed {
		t.Errorf("err=%v driver=%q installed=%t", c.Err, c.Driver, c.Installed)
	}
}

func TestKubeletWithoutConfig(t *testing.T) {
	roots := writeTree(t, map[string]string{"proc/10/cmdline": "/usr/bin/kubelet\x00--v=2\x00"})
	c := DetectKubelet(t.Context(), roots)
	if c.Driver != Cgroupfs || !c.Defaulted || c.Source != "" || !strings.Contains(c.Evidence, "runs without --config") {
		t.Errorf("%+v", c)
	}
}

func TestKubeletBinaryOnly(t *testing.T) {
	roots := writeTree(t, map[string]string{"usr/local/bin/kubelet": "", "proc/.keep": ""})
	c := DetectKubelet(t.Context(), roots)
	if !c.Installed || c.Driver != Unknown || !strings.Contains(c.Why, "binary /usr/local/bin/kubelet present") {
		t.Errorf("%+v", c)
	}
}

func TestContainerdImportsOverride(t *testing.T) {
	roots := writeTree(t, map[string]string{
		"proc/.keep":                            "",
		"etc/containerd/config.toml":            "version = 2\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\nSystemdCgroup = false\n",
		"etc/containerd/conf.d/50-systemd.toml": "version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\nSystemdCgroup = true\n",
		"etc/containerd/conf.d/10-other.toml":   "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\nsandbox_image = \"x\"\n",
	})
	c := DetectContainerd(t.Context(), roots)
	if c.Driver != Systemd || c.Source != "/etc/containerd/conf.d/50-systemd.toml" || c.Err != nil {
		t.Errorf("driver=%q source=%q err=%v evidence=%q", c.Driver, c.Source, c.Err, c.Evidence)
	}
	if !strings.Contains(c.Evidence, "line 3") || !strings.Contains(c.Evidence, "config version 3") {
		t.Errorf("evidence %q", c.Evidence)
	}
}

func TestContainerdNoConfigButRunning(t *testing.T) {
	roots := writeTree(t, map[string]string{"proc/5/cmdline": "/usr/bin/containerd\x00"})
	c := DetectContainerd(t.Context(), roots)
	if !c.Installed || c.Driver != Cgroupfs || !c.Defaulted || c.Err != nil || !strings.Contains(c.Evidence, "no /etc/containerd/config.toml") {
		t.Errorf("%+v", c)
	}
}

func TestDockerFlagAndFileConflict(t *testing.T) {
	roots := writeTree(t, map[string]string{
		"proc/5/cmdline":         "dockerd\x00--exec-opt\x00native.cgroupdriver=cgroupfs\x00",
		"etc/docker/daemon.json": `{"exec-opts": ["native.cgroupdriver=systemd"]}`,
	})
	c := DetectDocker(t.Context(), roots, Host{})
	if c.Driver != Cgroupfs || c.Source != "pid 5 cmdline" || c.Err == nil || !strings.Contains(c.Err.Error(), "refuses to start") {
		t.Errorf("driver=%q source=%q err=%v", c.Driver, c.Source, c.Err)
	}
}

func TestTomlKeyLine(t *testing.T) {
	data := []byte("a = 1\n\n[x.\"y.z\"]\n  # SystemdCgroup = true\n  k = \"v\"\n  s = '''\n[fake]\nk = 1\n'''\n[x.'y.z'.w]\nq = [\n 1,\n]\nr = 2\n")
	for _, tc := range []struct {
		path []string
		line int
	}{
		{[]string{"a"}, 1},
		{[]string{"x", "y.z"}, 3},
		{[]string{"x", "y.z", "k"}, 5},
		{[]string{"x", "y.z", "w"}, 10},
		{[]string{"x", "y.z", "w", "r"}, 14},
		{[]string{"x", "y.z", "w", "q"}, 0}, // multi-line array: unknown, not wrong
		{[]string{"nope"}, 0},
	} {
		if got := tomlKeyLine(data, tc.path); got != tc.line {
			t.Errorf("tomlKeyLine(%v) = %d, want %d", tc.path, got, tc.line)
		}
	}
}

func TestBrokenDropInLeavesDriverUnknownUnlessFlagged(t *testing.T) {
	files := map[string]string{
		"proc/9/cmdline":                 "crio\x00",
		"etc/crio/crio.conf":             "[crio.runtime]\ncgroup_manager = \"systemd\"\n",
		"etc/crio/crio.conf.d/50-x.conf": "[crio.runtime\n",
	}
	c := DetectCRIO(t.Context(), writeTree(t, files))
	if c.Driver != Unknown || c.Err == nil || !strings.Contains(c.Evidence, `the readable ones say: cgroup_manager = "systemd" in /etc/crio/crio.conf line 2`) {
		t.Errorf("driver=%q err=%v evidence=%q", c.Driver, c.Err, c.Evidence)
	}
	files["proc/9/cmdline"] = "crio\x00--cgroup-manager=cgroupfs\x00"
	c = DetectCRIO(t.Context(), writeTree(t, files))
	if c.Driver != Cgroupfs || c.Err == nil || c.Source != "pid 9 cmdline" {
		t.Errorf("flag over a broken drop-in: driver=%q err=%v source=%q", c.Driver, c.Err, c.Source)
	}
}
