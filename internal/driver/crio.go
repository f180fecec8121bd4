package driver

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/memrelief/memrelief/internal/paths"
)

const (
	crioConfigPath = "/etc/crio/crio.conf"
	crioDropInDir  = "/etc/crio/crio.conf.d"
	// crioDefault is CRI-O's built-in cgroup_manager.
	crioDefault = Systemd
)

// crioFile is what one CRI-O config file says.
type crioFile struct {
	manager Driver // Unknown when cgroup_manager is not set
	line    int
}

// parseCRIOConfig reads [crio.runtime] cgroup_manager from one crio.conf or
// drop-in. It fails on TOML syntax errors (naming the line), on a crio or
// crio.runtime that is not a table, and on a value other than systemd or
// cgroupfs (naming key and line).
func parseCRIOConfig(data []byte) (crioFile, error) {
	var f crioFile
	var root map[string]any
	if _, err := toml.Decode(string(data), &root); err != nil {
		return f, err
	}
	rt, err := tomlTable(data, root, []string{"crio", "runtime"})
	if err != nil || rt == nil {
		return f, err
	}
	v, ok := rt["cgroup_manager"]
	if !ok {
		return f, nil
	}
	line := tomlKeyLine(data, []string{"crio", "runtime", "cgroup_manager"})
	s, ok := v.(string)
	if !ok {
		return f, fmt.Errorf("line %d: key crio.runtime.cgroup_manager: want a string, got %T", line, v)
	}
	switch Driver(s) {
	case Systemd, Cgroupfs:
		f.manager, f.line = Driver(s), line
	default:
		return f, fmt.Errorf("line %d: key crio.runtime.cgroup_manager: %q is neither systemd nor cgroupfs", line, s)
	}
	return f, nil
}

// crioDropIns lists the regular files of a CRI-O drop-in directory in the
// lexical order CRI-O applies them, as host paths. A missing directory is no
// drop-ins.
func crioDropIns(roots paths.Roots, hostDir string) ([]string, error) {
	dir, err := resolve(roots, hostDir)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read drop-in dir %s: %w", hostDir, err)
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0 {
			if strings.HasSuffix(e.Name(), ".conf") {
				out = append(out, path.Join(hostDir, e.Name()))
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

func detectCRIO(roots paths.Roots, procs procTable) Component {
	c := Component{Name: NameCRIO}
	cfgPath, dropDir := crioConfigPath, crioDropInDir
	var flagManager string
	p, running := procs.lookup("crio")
	if running {
		c.Installed, c.PID = true, p.pid
		c.Why = fmt.Sprintf("running as pid %d", p.pid)
		if f, ok := flagValue(p.argv, "--config", "-c"); ok {
			cfgPath = f
		}
		if d, ok := flagValue(p.argv, "--config-dir", "-d"); ok {
			dropDir = d
		}
		flagManager, _ = flagValue(p.argv, "--cgroup-manager")
	}

	var errs []error
	var sets []setting
	var read []string
	candidates := []string{cfgPath}
	dropIns, err := crioDropIns(roots, dropDir)
	if err != nil {
		errs = append(errs, fmt.Errorf("crio config: %w", err))
	}
	candidates = append(candidates, dropIns...)
	for _, hp := range candidates {
		file, err := resolve(roots, hp)
		if err != nil {
			errs = append(errs, fmt.Errorf("crio config: %w", err))
			continue
		}
		b, err := readConfig(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue // newer packages ship only drop-ins; either may be absent
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("crio config: %w", err))
			continue
		}
		read = append(read, hp)
		f, err := parseCRIOConfig(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("crio config %s: %w", hp, err))
			continue
		}
		if f.manager != Unknown {
			sets = append(sets, setting{f.manager, hp,
				fmt.Sprintf("cgroup_manager = %q in %s%s", f.manager, hp, atLine(f.line)), false})
		}
	}
	if flagManager != "" {
		switch Driver(flagManager) {
		case Systemd, Cgroupfs:
			sets = append(sets, setting{Driver(flagManager), fmt.Sprintf("pid %d cmdline", p.pid),
				fmt.Sprintf("--cgroup-manager=%s on the command line of pid %d (overrides config files)", flagManager, p.pid), true})
		default:
			errs = append(errs, fmt.Errorf("crio pid %d: flag --cgroup-manager: %q is neither systemd nor cgroupfs", p.pid, flagManager))
		}
	}
	c.Err = errors.Join(errs...)

	if !running {
		switch bin := binaryPath(roots.Usr, "crio"); {
		case len(read) > 0:
			c.Installed = true
			c.Why = fmt.Sprintf("%s; %s present", procs.notRunning("crio"), strings.Join(read, ", "))
		case bin != "":
			c.Installed = true
			c.Why = fmt.Sprintf("binary %s present; %s; no config in %s or %s", bin, procs.notRunning("crio"), cfgPath, dropDir)
		case c.Err != nil:
			c.Installed = true
			c.Why = fmt.Sprintf("%s; its configuration exists but cannot be read", procs.notRunning("crio"))
		default:
			c.Why = fmt.Sprintf("%s, no %s, no %s, no crio binary in /usr/bin, /usr/local/bin or /usr/sbin", procs.notRunning("crio"), cfgPath, dropDir)
			return c
		}
	}
	if n := len(sets); n > 1 {
		sets[n-1].evidence += fmt.Sprintf(" (overrides %s)", sets[n-2].source)
	}
	switch {
	case decide(&c, sets):
	case len(read) == 0:
		c.Driver, c.Defaulted = crioDefault, true
		c.Evidence = fmt.Sprintf("no %s and no drop-ins in %s; CRI-O default cgroup_manager is %s", cfgPath, dropDir, crioDefault)
	default:
		c.Driver, c.Defaulted, c.Source = crioDefault, true, read[0]
		c.Evidence = fmt.Sprintf("cgroup_manager not set in %s; CRI-O default is %s", strings.Join(read, ", "), crioDefault)
	}
	return c
}
