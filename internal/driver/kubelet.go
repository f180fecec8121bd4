package driver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/memrelief/memrelief/internal/paths"
	"go.yaml.in/yaml/v3"
)

// kubeadmConfig is where kubeadm writes the KubeletConfiguration and points
// the kubelet at with --config.
const kubeadmConfig = "/var/lib/kubelet/config.yaml"

// kubeletDefault is the kubelet's own default driver. kubeadm >= 1.22 writes
// cgroupDriver: systemd into the file when the user sets nothing, so an
// absent key means a config written by something else, or an old kubeadm.
const kubeletDefault = Cgroupfs

// kubeletConfig is what this package needs from a KubeletConfiguration.
type kubeletConfig struct {
	driver       Driver // Unknown when the key is absent or null
	driverLine   int    // 1-based line of the cgroupDriver key
	endpoint     string // containerRuntimeEndpoint, "" when absent
	endpointLine int
}

// parseKubeletConfig reads the cgroupDriver and containerRuntimeEndpoint of a
// KubeletConfiguration YAML document. It uses a YAML parser rather than a line
// scanner so that comments, quoting, flow style, anchors and block scalars mean
// what they mean to the kubelet. It fails, naming the line, on anything the
// kubelet would refuse: not a mapping, a kind other than
// KubeletConfiguration, a duplicate key, a driver other than systemd or
// cgroupfs. Only the first document is read, as the kubelet does.
func parseKubeletConfig(data []byte) (kubeletConfig, error) {
	var cfg kubeletConfig
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return cfg, errors.New("empty: no KubeletConfiguration document")
		}
		return cfg, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return cfg, errors.New("empty: no KubeletConfiguration document")
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return cfg, fmt.Errorf("line %d: top level is not a mapping", top.Line)
	}
	seen := map[string]int{}
	kind := ""
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			continue // a complex key cannot be one of ours
		}
		if first, dup := seen[k.Value]; dup {
			return cfg, fmt.Errorf("line %d: key %s repeats line %d", k.Line, k.Value, first)
		}
		seen[k.Value] = k.Line
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		switch k.Value {
		case "kind":
			s, err := yamlString(k, v)
			if err != nil {
				return cfg, err
			}
			kind = s
		case "cgroupDriver":
			s, err := yamlString(k, v)
			if err != nil {
				return cfg, err
			}
			switch Driver(s) {
			case Unknown:
				// null or "": the kubelet applies its default.
			case Systemd, Cgroupfs:
				cfg.driver, cfg.driverLine = Driver(s), k.Line
			default:
				return cfg, fmt.Errorf("line %d: key cgroupDriver: %q is neither systemd nor cgroupfs", k.Line, s)
			}
		case "containerRuntimeEndpoint":
			s, err := yamlString(k, v)
			if err != nil {
				return cfg, err
			}
			cfg.endpoint, cfg.endpointLine = s, k.Line
		}
	}
	if kind != "KubeletConfiguration" {
		line := top.Line
		if l, ok := seen["kind"]; ok {
			line = l
		}
		return cfg, fmt.Errorf("line %d: key kind: %q, want KubeletConfiguration", line, kind)
	}
	return cfg, nil
}

// yamlString returns a scalar value as a string; null is "".
func yamlString(k, v *yaml.Node) (string, error) {
	if v.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("line %d: key %s: want a string, got a %s", k.Line, k.Value, nodeKind(v))
	}
	if v.Tag == "!!null" {
		return "", nil
	}
	return v.Value, nil
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "sequence"
	case yaml.AliasNode:
		return "alias"
	}
	return "non-scalar"
}

// maxConfigBytes bounds what is read from any one config file: real ones are
// a few KiB, and a runaway file must not exhaust memory.
const maxConfigBytes = 4 << 20

// readConfig reads a config file, refusing one larger than maxConfigBytes.
// A missing file's error satisfies errors.Is(err, fs.ErrNotExist).
func readConfig(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	if len(b) > maxConfigBytes {
		return nil, fmt.Errorf("read %s: larger than %d bytes", file, maxConfigBytes)
	}
	return b, nil
}

// setting is one source that sets a component's driver; later settings
// override earlier ones.
type setting struct {
	driver   Driver
	source   string
	evidence string
	fromFlag bool // a command-line flag, which overrides every file
}

// decide sets c's driver from the last of sets and reports whether it did.
// When a configuration file could not be read (c.Err), the driver is known
// only if a command-line flag set it: otherwise the unreadable file might set
// it, so Driver stays Unknown and the evidence says what the readable sources
// say. It returns false when nothing decided, and the caller applies the
// component's default.
func decide(c *Component, sets []setting) bool {
	var last *setting
	if len(sets) > 0 {
		last = &sets[len(sets)-1]
	}
	switch {
	case last != nil && (c.Err == nil || last.fromFlag):
		c.Driver, c.Source, c.Evidence = last.driver, last.source, last.evidence
		return true
	case c.Err != nil:
		c.Evidence = "a configuration file that may set the driver could not be read"
		if last != nil {
			c.Evidence += "; the readable ones say: " + last.evidence
		}
		return true
	}
	return false
}

// atLine formats " line N" when the line is known.
func atLine(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf(" line %d", n)
}

// kubeletFile reads one KubeletConfiguration at hostPath.
func kubeletFile(roots paths.Roots, hostPath string) (kubeletConfig, error) {
	file, err := resolve(roots, hostPath)
	if err != nil {
		return kubeletConfig{}, fmt.Errorf("kubelet config: %w", err)
	}
	b, err := readConfig(file)
	if err != nil {
		return kubeletConfig{}, fmt.Errorf("kubelet config: %w", err)
	}
	cfg, err := parseKubeletConfig(b)
	if err != nil {
		return cfg, fmt.Errorf("kubelet config %s: %w", hostPath, err)
	}
	return cfg, nil
}

// kubeletDropIns lists the *.conf files of a --config-dir in the order the
// kubelet applies them (lexical; later files override earlier ones).
func kubeletDropIns(roots paths.Roots, hostDir string) ([]string, error) {
	dir, err := resolve(roots, hostDir)
	if err != nil {
		return nil, fmt.Errorf("kubelet config dir: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("kubelet config dir: %w", err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".conf") {
			out = append(out, path.Join(hostDir, e.Name()))
		}
	}
	slices.Sort(out)
	return out, nil
}

func detectKubelet(roots paths.Roots, procs procTable) Component {
	c := Component{Name: NameKubelet}
	var sets []setting
	var errs []error
	applyFile := func(hostPath string) {
		cfg, err := kubeletFile(roots, hostPath)
		if err != nil {
			errs = append(errs, err)
			return
		}
		if cfg.endpoint != "" {
			c.RuntimeEndpoint = cfg.endpoint
		}
		if cfg.driver != Unknown {
			sets = append(sets, setting{cfg.driver, hostPath,
				fmt.Sprintf("cgroupDriver: %s in %s%s", cfg.driver, hostPath, atLine(cfg.driverLine)), false})
		}
	}
	var files []string // the config files consulted, for the "not set" evidence

	p, running := procs.lookup("kubelet")
	switch {
	case running:
		c.Installed, c.PID = true, p.pid
		c.Why = fmt.Sprintf("running as pid %d", p.pid)
		if f, ok := flagValue(p.argv, "--config"); ok {
			files = append(files, f)
			applyFile(f)
		}
		if d, ok := flagValue(p.argv, "--config-dir"); ok {
			dropIns, err := kubeletDropIns(roots, d)
			if err != nil {
				errs = append(errs, err)
			}
			for _, f := range dropIns {
				files = append(files, f)
				applyFile(f)
			}
		}
		if e, ok := flagValue(p.argv, "--container-runtime-endpoint"); ok {
			c.RuntimeEndpoint = e
		}
		if v, ok := flagValue(p.argv, "--cgroup-driver"); ok {
			switch Driver(v) {
			case Systemd, Cgroupfs:
				sets = append(sets, setting{Driver(v), fmt.Sprintf("pid %d cmdline", p.pid),
					fmt.Sprintf("--cgroup-driver=%s on the command line of pid %d (overrides config files)", v, p.pid), true})
			default:
				errs = append(errs, fmt.Errorf("kubelet pid %d: flag --cgroup-driver: %q is neither systemd nor cgroupfs", p.pid, v))
			}
		}
	default:
		kubeadm := filepath.Join(roots.Kubelet, "config.yaml")
		_, statErr := os.Stat(kubeadm)
		switch {
		case statErr == nil:
			c.Installed = true
			c.Why = fmt.Sprintf("%s; %s present", procs.notRunning("kubelet"), kubeadmConfig)
			files = append(files, kubeadmConfig)
			applyFile(kubeadmConfig)
		case binaryPath(roots.Usr, "kubelet") != "":
			c.Installed = true
			c.Why = fmt.Sprintf("binary %s present; %s; no %s", binaryPath(roots.Usr, "kubelet"), procs.notRunning("kubelet"), kubeadmConfig)
			c.Evidence = "not running and no kubeadm config: the driver it would start with is unknown"
			return c
		default:
			c.Why = fmt.Sprintf("%s, no %s, no kubelet binary in /usr/bin, /usr/local/bin or /usr/sbin", procs.notRunning("kubelet"), kubeadmConfig)
			return c
		}
	}

	c.Err = errors.Join(errs...)
	switch {
	case decide(&c, sets):
	case len(files) == 0:
		c.Driver, c.Defaulted = kubeletDefault, true
		c.Evidence = fmt.Sprintf("kubelet pid %d runs without --config or --cgroup-driver; kubelet default is %s", p.pid, kubeletDefault)
	default:
		c.Driver, c.Defaulted, c.Source = kubeletDefault, true, files[0]
		c.Evidence = fmt.Sprintf("cgroupDriver not set in %s; kubelet default is %s", strings.Join(files, ", "), kubeletDefault)
	}
	return c
}
