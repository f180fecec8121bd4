// Package e2e is memrelief's end-to-end test: it boots a Debian bookworm
// guest under QEMU (TCG: KVM hangs on the project's hosts) in each cgroup
// mode (unified v2, hybrid, legacy v1), installs the memrelief build the way
// the package does, runs the plain shell scenarios in scenarios/ inside the
// guest as a oneshot unit, and reports each scenario as a subtest.
//
// The test skips unless MEMRELIEF_E2E=1 (`make e2e` sets it): it needs root,
// QEMU, debootstrap and several minutes. The guest image is built by
// image/build.sh and cached outside the repository under
// $MEMRELIEF_E2E_CACHE (default /var/cache/memrelief-e2e), keyed by the
// sha256 of that script, so a changed recipe builds a new image and a fresh
// machine builds its own.
//
// This file set also holds the pieces that run without a guest (scenario
// header and result parsing) so that the plain test suite checks them.
package e2e
