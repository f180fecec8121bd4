package driver

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/memrelief/memrelief/internal/paths"
)

// errUnresolvable marks a host path that has no counterpart under the roots.
var errUnresolvable = errors.New("path is outside every injected root")

// resolve maps an absolute host path, as named on a daemon's command line or
// in a config file, to the file to read under roots. /etc/... goes to
// roots.Etc, /var/lib/kubelet/... to roots.Kubelet, and so on. A path outside
// every root is read as is only when roots are the host's own; under any
// other roots reading it would read this machine's file instead of the
// inspected host's, so it fails with errUnresolvable. Relative paths fail too:
// they are relative to the daemon's working directory.
func resolve(roots paths.Roots, hostPath string) (string, error) {
	if !path.IsAbs(hostPath) {
		return "", fmt.Errorf("resolve %q: relative to the daemon's working directory, which is not followed", hostPath)
	}
	clean := path.Clean(hostPath)
	if roots == paths.Host() {
		return clean, nil
	}
	best, bestLen := "", -1
	for _, m := range []struct{ host, root string }{
		{"/etc", roots.Etc},
		{"/var/lib/kubelet", roots.Kubelet},
		{"/var/log", roots.Log},
		{"/run", roots.Run},
		{"/var/run", roots.Run},
		{"/usr", roots.Usr},
		{"/proc", roots.Proc},
		{"/sys/fs/cgroup", roots.Cgroup},
		{"/var/lib/memrelief", roots.Lib},
	} {
		if m.root == "" {
			continue
		}
		rest, ok := strings.CutPrefix(clean, m.host)
		if !ok || (rest != "" && rest[0] != '/') || len(m.host) <= bestLen {
			continue
		}
		best, bestLen = filepath.Join(m.root, filepath.FromSlash(rest)), len(m.host)
	}
	if bestLen < 0 {
		return "", fmt.Errorf("resolve %q: %w", hostPath, errUnresolvable)
	}
	return best, nil
}
