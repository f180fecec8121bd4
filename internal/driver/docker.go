package driver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/memrelief/memrelief/internal/paths"
)

const dockerConfigPath = "/etc/docker/daemon.json"

// dockerDefault is dockerd's driver when native.cgroupdriver is not set:
// systemd on a cgroup v2 host booted with systemd (Docker >= 20.10), cgroupfs
// otherwise.
func dockerDefault(h Host) Driver {
	if h.CgroupV2 && h.SystemdPID1 {
		return Systemd
	}
	return Cgroupfs
}

// dockerFile is what daemon.json says about the driver.
type dockerFile struct {
	hasExecOpts bool
	driver      Driver // Unknown when native.cgroupdriver is absent or empty
	line        int
	option      string // the exec-opt as written
}

// parseDockerConfig reads native.cgroupdriver from daemon.json's exec-opts.
// Like dockerd it matches the key case-insensitively and takes the first
// matching option. It fails, naming the line, on invalid JSON, a top level
// that is not an object, exec-opts that is not an array of strings, an
// exec-opt without "=", and a driver other than systemd or cgroupfs.
func parseDockerConfig(data []byte) (dockerFile, error) {
	var f dockerFile
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return f, jsonError(data, err)
	}
	if top == nil {
		return f, errors.New("line 1: top level is null, want an object")
	}
	raw, ok := top["exec-opts"]
	if !ok {
		return f, nil
	}
	f.hasExecOpts = true
	lines := execOptLines(data)
	var opts []string
	if err := json.Unmarshal(raw, &opts); err != nil {
		return f, fmt.Errorf("line %d: key exec-opts: want an array of strings", lines.key)
	}
	for i, o := range opts {
		line := 0
		if i < len(lines.elems) {
			line = lines.elems[i]
		}
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			return f, fmt.Errorf("line %d: key exec-opts: %q is not key=value", line, o)
		}
		if !strings.EqualFold(strings.TrimSpace(k), "native.cgroupdriver") {
			continue
		}
		switch d := Driver(strings.TrimSpace(v)); d {
		case Unknown:
		case Systemd, Cgroupfs:
			f.driver, f.line = d, line
		default:
			return f, fmt.Errorf("line %d: key exec-opts: native.cgroupdriver %q is neither systemd nor cgroupfs", line, v)
		}
		f.option = o
		return f, nil
	}
	return f, nil
}

// optLines is where exec-opts sits in daemon.json.
type optLines struct {
	key   int   // line of the last "exec-opts" key
	elems []int // line of each element of its array
}

// execOptLines finds the lines of the top-level "exec-opts" key and its
// elements by walking the JSON tokens; encoding/json reports offsets, not
// lines. Anything unexpected ends the walk with what was found.
func execOptLines(data []byte) optLines {
	var out optLines
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return out
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return out
		}
		key, _ := kt.(string)
		keyEnd := dec.InputOffset()
		var raw json.RawMessage
		if dec.Decode(&raw) != nil {
			return out
		}
		if key != "exec-opts" {
			continue
		}
		// Duplicate keys: the last one is what encoding/json (and dockerd)
		// keeps, so it replaces what an earlier one found.
		out = optLines{key: lineAt(data, keyEnd-1)}
		base := dec.InputOffset() - int64(len(raw))
		sub := json.NewDecoder(bytes.NewReader(raw))
		if t, err := sub.Token(); err != nil || t != json.Delim('[') {
			continue
		}
		for sub.More() {
			var elem json.RawMessage
			if sub.Decode(&elem) != nil {
				break
			}
			out.elems = append(out.elems, lineAt(data, base+sub.InputOffset()-1))
		}
	}
	return out
}

// lineAt returns the 1-based line of byte offset off.
func lineAt(data []byte, off int64) int {
	if off < 0 {
		off = 0
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	return bytes.Count(data[:off], []byte{'\n'}) + 1
}

// jsonError adds the line to an encoding/json error, which only has offsets.
func jsonError(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("line %d: %w", lineAt(data, se.Offset), err)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("line %d: %w", lineAt(data, te.Offset), err)
	}
	return err
}

func detectDocker(roots paths.Roots, procs procTable, host Host) Component {
	c := Component{Name: NameDocker}
	cfgPath := dockerConfigPath
	var flagOpts []string
	p, running := procs.lookup("dockerd")
	if running {
		c.Installed, c.PID = true, p.pid
		c.Why = fmt.Sprintf("running as pid %d", p.pid)
		if f, ok := flagValue(p.argv, "--config-file"); ok {
			cfgPath = f
		}
		flagOpts = flagValues(p.argv, "--exec-opt")
	}

	var errs []error
	var file dockerFile
	present := false
	if fp, err := resolve(roots, cfgPath); err != nil {
		errs = append(errs, fmt.Errorf("docker config: %w", err))
	} else if b, err := readConfig(fp); errors.Is(err, fs.ErrNotExist) {
		// No daemon.json is the common case.
	} else if err != nil {
		errs = append(errs, fmt.Errorf("docker config: %w", err))
	} else {
		present = true
		if file, err = parseDockerConfig(b); err != nil {
			errs = append(errs, fmt.Errorf("docker config %s: %w", cfgPath, err))
		}
	}

	var sets []setting
	if file.driver != Unknown {
		sets = append(sets, setting{file.driver, cfgPath,
			fmt.Sprintf("exec-opts %q in %s%s", file.option, cfgPath, atLine(file.line)), false})
	}
	if len(flagOpts) > 0 {
		if file.hasExecOpts {
			errs = append(errs, fmt.Errorf("dockerd pid %d: exec-opts given both as --exec-opt and in %s: dockerd refuses to start with a directive set in both", p.pid, cfgPath))
		}
		for _, o := range flagOpts {
			k, v, _ := strings.Cut(o, "=")
			if !strings.EqualFold(strings.TrimSpace(k), "native.cgroupdriver") {
				continue
			}
			switch d := Driver(strings.TrimSpace(v)); d {
			case Systemd, Cgroupfs:
				sets = append(sets, setting{d, fmt.Sprintf("pid %d cmdline", p.pid),
					fmt.Sprintf("--exec-opt %s on the command line of pid %d", o, p.pid), true})
			case Unknown:
			default:
				errs = append(errs, fmt.Errorf("dockerd pid %d: flag --exec-opt: native.cgroupdriver %q is neither systemd nor cgroupfs", p.pid, v))
			}
			break // dockerd uses the first native.cgroupdriver option
		}
	}
	c.Err = errors.Join(errs...)

	if !running {
		switch bin := binaryPath(roots.Usr, "dockerd"); {
		case present:
			c.Installed = true
			c.Why = fmt.Sprintf("%s; %s present", procs.notRunning("dockerd"), cfgPath)
		case bin != "":
			c.Installed = true
			c.Why = fmt.Sprintf("binary %s present; %s", bin, procs.notRunning("dockerd"))
		default:
			c.Why = fmt.Sprintf("%s, no %s, no dockerd binary in /usr/bin, /usr/local/bin or /usr/sbin", procs.notRunning("dockerd"), cfgPath)
			return c
		}
	}
	def := dockerDefault(host)
	why := fmt.Sprintf("dockerd default is %s on this host (cgroup v2: %t, systemd is PID 1: %t)", def, host.CgroupV2, host.SystemdPID1)
	switch {
	case decide(&c, sets):
	case present:
		c.Driver, c.Defaulted, c.Source = def, true, cfgPath
		c.Evidence = fmt.Sprintf("native.cgroupdriver not set in %s; %s", cfgPath, why)
	default:
		c.Driver, c.Defaulted = def, true
		c.Evidence = fmt.Sprintf("no %s; %s", cfgPath, why)
	}
	return c
}
