package driver

import (
	"context"

	"github.com/memrelief/memrelief/internal/paths"
)

// One component at a time, as the tests look at them; the daemon and detect
// use Detect, which scans the process table once for all of them.

// DetectKubelet reports the kubelet's driver: from the running kubelet's
// --cgroup-driver flag, else its --config file (and --config-dir drop-ins),
// else the kubeadm default Roots.Kubelet/config.yaml. See Detect for ctx.
func DetectKubelet(ctx context.Context, roots paths.Roots) Component {
	return detectKubelet(roots, scanProcesses(ctx, roots.Proc))
}

// DetectContainerd reports containerd's driver from the runc runtime's
// SystemdCgroup option in the config.toml the running containerd was started
// with (--config), else /etc/containerd/config.toml. See Detect for ctx.
func DetectContainerd(ctx context.Context, roots paths.Roots) Component {
	return detectContainerd(roots, scanProcesses(ctx, roots.Proc))
}

// DetectCRIO reports CRI-O's cgroup_manager from its command line, crio.conf
// and crio.conf.d drop-ins. See Detect for ctx.
func DetectCRIO(ctx context.Context, roots paths.Roots) Component {
	return detectCRIO(roots, scanProcesses(ctx, roots.Proc))
}

// DetectDocker reports dockerd's native.cgroupdriver from its command line
// and daemon.json; the default depends on host (see Host). See Detect for ctx.
func DetectDocker(ctx context.Context, roots paths.Roots, host Host) Component {
	return detectDocker(roots, scanProcesses(ctx, roots.Proc), host)
}
