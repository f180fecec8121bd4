package driver

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/memrelief/memrelief/internal/paths"
)

// containerdConfigPath is containerd's default --config.
const containerdConfigPath = "/etc/containerd/config.toml"

// containerdDefault: runc's SystemdCgroup option is false unless set, in
// containerd 1.x and 2.x alike (2.x only uses systemd as a fallback when it
// reports a driver to the kubelet and no runc runtime is configured at all).
const containerdDefault = Cgroupfs

// criRuntimeTable is where the CRI plugin keeps its runtimes, by config
// version: 3 is containerd 2.x's layout, 2 is containerd 1.x's (still read by
// 2.x), 1 (or no version) is the original layout of containerd 1.0-1.2.
var criRuntimeTable = map[int64]struct {
	path    []string
	display string
}{
	1: {[]string{"plugins", "cri", "containerd"}, `plugins.cri.containerd`},
	2: {[]string{"plugins", "io.containerd.grpc.v1.cri", "containerd"}, `plugins."io.containerd.grpc.v1.cri".containerd`},
	3: {[]string{"plugins", "io.containerd.cri.v1.runtime", "containerd"}, `plugins.'io.containerd.cri.v1.runtime'.containerd`},
}

// boolAt is a boolean setting and the line that sets it.
type boolAt struct {
	value bool
	line  int
}

// containerdFile is what one containerd config file says.
type containerdFile struct {
	version int64
	// defaultRuntime is default_runtime_name, "" when not set.
	defaultRuntime     string
	defaultRuntimeLine int
	// systemdCgroup is each runtime's options.SystemdCgroup, when set.
	systemdCgroup map[string]boolAt
	// imports are the files this one pulls in, as written.
	imports []string
}

// parseContainerdConfig reads the CRI runtime settings of one containerd
// config.toml. It fails on TOML syntax errors (the error names the line), on
// an unsupported version, and on a known key of the wrong type (naming key
// and line).
func parseContainerdConfig(data []byte) (containerdFile, error) {
	f := containerdFile{version: 1, systemdCgroup: map[string]boolAt{}}
	var root map[string]any
	if _, err := toml.Decode(string(data), &root); err != nil {
		return f, err
	}
	if v, ok := root["version"]; ok {
		n, ok := v.(int64)
		if !ok {
			return f, fmt.Errorf("line %d: key version: want an integer, got %T", tomlKeyLine(data, []string{"version"}), v)
		}
		f.version = n
	}
	tbl, ok := criRuntimeTable[f.version]
	if !ok {
		return f, fmt.Errorf("line %d: key version: unsupported config version %d (want 1, 2 or 3)", tomlKeyLine(data, []string{"version"}), f.version)
	}
	if v, ok := root["imports"]; ok {
		list, ok := v.([]any)
		if !ok {
			return f, fmt.Errorf("line %d: key imports: want an array of strings, got %T", tomlKeyLine(data, []string{"imports"}), v)
		}
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return f, fmt.Errorf("line %d: key imports: want an array of strings, got an element of type %T", tomlKeyLine(data, []string{"imports"}), e)
			}
			f.imports = append(f.imports, s)
		}
	}
	cri, err := tomlTable(data, root, tbl.path)
	if err != nil || cri == nil {
		return f, err
	}
	if v, ok := cri["default_runtime_name"]; ok {
		p := append(append([]string{}, tbl.path...), "default_runtime_name")
		s, ok := v.(string)
		if !ok {
			return f, fmt.Errorf("line %d: key %s: want a string, got %T", tomlKeyLine(data, p), strings.Join(p, "."), v)
		}
		f.defaultRuntime, f.defaultRuntimeLine = s, tomlKeyLine(data, p)
	}
	runtimesPath := append(append([]string{}, tbl.path...), "runtimes")
	runtimes, err := tomlTable(data, root, runtimesPath)
	if err != nil || runtimes == nil {
		return f, err
	}
	for name := range runtimes {
		optsPath := append(append([]string{}, runtimesPath...), name, "options")
		opts, err := tomlTable(data, root, optsPath)
		if err != nil {
			return f, err
		}
		v, ok := opts["SystemdCgroup"]
		if !ok {
			continue
		}
		keyPath := append(optsPath, "SystemdCgroup")
		b, ok := v.(bool)
		if !ok {
			return f, fmt.Errorf("line %d: key %s: want a boolean, got %T", tomlKeyLine(data, keyPath), strings.Join(keyPath, "."), v)
		}
		f.systemdCgroup[name] = boolAt{b, tomlKeyLine(data, keyPath)}
	}
	return f, nil
}

// tomlTable walks root along path. It returns nil, nil when a table on the way
// is absent, and an error naming key and line when something on the way is
// not a table.
func tomlTable(data []byte, root map[string]any, path []string) (map[string]any, error) {
	cur := root
	for i, k := range path {
		v, ok := cur[k]
		if !ok {
			return nil, nil
		}
		next, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("line %d: key %s: want a table, got %T", tomlKeyLine(data, path[:i+1]), strings.Join(path[:i+1], "."), v)
		}
		cur = next
	}
	return cur, nil
}

// maxImports bounds how many files a containerd config may pull in, so an
// import loop or a glob over a huge directory cannot run away.
const maxImports = 64

// containerdFiles loads the config at hostPath and, breadth first as
// containerd does, every file it imports (globs expanded; relative paths are
// relative to the importing file). Later files override earlier ones. A
// missing main file is reported through the returned bool, not as an error.
func containerdFiles(roots paths.Roots, hostPath string) (files []string, parsed []containerdFile, present bool, errs []error) {
	pending := []string{hostPath}
	seen := map[string]bool{}
	for len(pending) > 0 && len(files) < maxImports {
		hp := pending[0]
		pending = pending[1:]
		if seen[hp] {
			continue
		}
		seen[hp] = true
		file, err := resolve(roots, hp)
		if err != nil {
			errs = append(errs, fmt.Errorf("containerd config: %w", err))
			continue
		}
		b, err := readConfig(file)
		if err != nil {
			if hp == hostPath && errors.Is(err, fs.ErrNotExist) {
				return nil, nil, false, errs
			}
			errs = append(errs, fmt.Errorf("containerd config: %w", err))
			continue
		}
		if hp == hostPath {
			present = true
		}
		f, err := parseContainerdConfig(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("containerd config %s: %w", hp, err))
			continue
		}
		files, parsed = append(files, hp), append(parsed, f)
		for _, imp := range f.imports {
			if !path.IsAbs(imp) {
				imp = path.Join(path.Dir(hp), imp)
			}
			expanded, err := globHost(roots, imp)
			if err != nil {
				errs = append(errs, fmt.Errorf("containerd config %s: imports: %w", hp, err))
				continue
			}
			pending = append(pending, expanded...)
		}
	}
	return files, parsed, present, errs
}

// globHost expands a host path glob under roots and returns host paths.
func globHost(roots paths.Roots, pattern string) ([]string, error) {
	if !strings.ContainsAny(pattern, "*?[") {
		return []string{pattern}, nil
	}
	dir, base := path.Split(pattern)
	if strings.ContainsAny(dir, "*?[") {
		return nil, fmt.Errorf("glob %q: wildcards only in the last element are followed", pattern)
	}
	d, err := resolve(roots, dir)
	if err != nil {
		return nil, err
	}
	matches, err := filepath.Glob(filepath.Join(d, base))
	if err != nil {
		return nil, fmt.Errorf("glob %q: %w", pattern, err)
	}
	out := make([]string, len(matches))
	for i, m := range matches {
		out[i] = path.Join(dir, filepath.Base(m))
	}
	return out, nil
}

func detectContainerd(roots paths.Roots, procs procTable) Component {
	c := Component{Name: NameContainerd}
	cfgPath := containerdConfigPath
	p, running := procs.lookup("containerd")
	if running {
		c.Installed, c.PID = true, p.pid
		c.Why = fmt.Sprintf("running as pid %d", p.pid)
		if f, ok := flagValue(p.argv, "--config", "-c"); ok {
			cfgPath = f
		}
	}
	files, parsed, present, errs := containerdFiles(roots, cfgPath)
	c.Err = errors.Join(errs...)
	if !running {
		switch bin := binaryPath(roots.Usr, "containerd"); {
		case present:
			c.Installed = true
			c.Why = fmt.Sprintf("%s; %s present", procs.notRunning("containerd"), cfgPath)
		case bin != "":
			c.Installed = true
			c.Why = fmt.Sprintf("binary %s present; %s; no %s", bin, procs.notRunning("containerd"), cfgPath)
		case c.Err != nil:
			c.Installed = true
			c.Why = fmt.Sprintf("%s; %s exists but cannot be read", procs.notRunning("containerd"), cfgPath)
		default:
			c.Why = fmt.Sprintf("%s, no %s, no containerd binary in /usr/bin, /usr/local/bin or /usr/sbin", procs.notRunning("containerd"), cfgPath)
			return c
		}
	}

	// Merge in load order: a later file's setting overrides an earlier one.
	runtime, runtimeFrom := "runc", ""
	var last []setting
	for i, f := range parsed {
		if f.defaultRuntime != "" {
			runtime = f.defaultRuntime
			runtimeFrom = fmt.Sprintf("default_runtime_name = %q in %s%s", f.defaultRuntime, files[i], atLine(f.defaultRuntimeLine))
		}
	}
	for i, f := range parsed {
		if b, ok := f.systemdCgroup[runtime]; ok {
			d := Cgroupfs
			if b.value {
				d = Systemd
			}
			last = []setting{{driver: d, source: files[i], evidence: fmt.Sprintf("SystemdCgroup = %t in %s%s ([%s.runtimes.%s.options], config version %d)",
				b.value, files[i], atLine(b.line), criRuntimeTable[f.version].display, runtime, f.version)}}
		}
	}
	switch {
	case decide(&c, last):
	case len(files) == 0:
		c.Driver, c.Defaulted = containerdDefault, true
		c.Evidence = fmt.Sprintf("no %s; containerd default is SystemdCgroup = false (%s)", cfgPath, containerdDefault)
	default:
		c.Driver, c.Defaulted, c.Source = containerdDefault, true, files[0]
		c.Evidence = fmt.Sprintf("SystemdCgroup not set for runtime %q in %s; containerd default is false (%s)", runtime, strings.Join(files, ", "), containerdDefault)
	}
	if runtimeFrom != "" {
		c.Evidence += "; " + runtimeFrom
	}
	return c
}
