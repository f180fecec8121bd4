# Scenario 16: containerd driven as the kubelet drives it, under both cgroup
# drivers. For each of systemd and cgroupfs: containerd's config
# (SystemdCgroup) and the kubelet's (cgroupDriver) say that driver and
# containerd runs; memrelief detect names the driver of both from the
# running process's configuration, with no mismatch finding; a log agent's
# container (loadgen making dentries, in memrelief's image) runs in the
# cgroup the kubelet would give it under that driver, with the kubelet's log
# layout, once with memrelief stopped and once with the packaged service on
# its default policy, which reclaims the pod's slab; `memrelief explain
# NS/POD` names the pod and the container (kube_storm in lib.sh). Under the
# systemd driver (the seeds' containerd nodes), grafana/alloy#6938 in real
# containers: the pod stays at or below 70% of its limit (kube_seed). Last,
# the kubelet says systemd while containerd says cgroupfs: detect's
# mismatch finding.
# modes: unified
# timeout: 540
. "$SHARE/scenarios/lib.sh"
need_run
need_service
command -v ctr >/dev/null || fail "containerd (ctr) is not in the guest image"
[ -f "$KUBE_IMG" ] || fail "no image on the share (make image)"
P=/etc/memrelief/policy.toml
[ -f $P ] && cp $P /run/e2e/policy.s16.saved
cleanup() {
	kube_cleanup 16e2e016
	stop_memrelief
	systemctl stop containerd
	rm -rf /etc/containerd/config.toml /var/lib/kubelet
	if [ -f /run/e2e/policy.s16.saved ]; then cp /run/e2e/policy.s16.saved $P; else rm -f $P; fi
}
trap cleanup EXIT

# configure CONTAINERD_DRIVER KUBELET_DRIVER, then restart containerd.
configure() {
	_sc=false
	[ "$1" = systemd ] && _sc=true
	mkdir -p /etc/containerd /var/lib/kubelet
	cat >/etc/containerd/config.toml <<TOML
version = 2
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = $_sc
TOML
	cat >/var/lib/kubelet/config.yaml <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: $2
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
YAML
	systemctl restart containerd || fail "containerd did not start with SystemdCgroup = $_sc"
}
driver_of() { jq -r --arg n "$1" '.drivers[] | select(.name == $n) | .driver' /run/e2e/s16-detect.json; }

cp "$SHARE/stage/etc/memrelief/policy.toml" $P
stop_memrelief
systemctl start containerd || fail "containerd did not start"
ctr -n k8s.io images import "$KUBE_IMG" >/dev/null || fail "ctr images import refused the image"

KUBE_SUMMARY=
n=0
for D in systemd cgroupfs; do
	configure $D $D
	memrelief detect -o json >/run/e2e/s16-detect.json 2>/run/e2e/s16-detect.err || fail "detect failed: $(head -c 300 /run/e2e/s16-detect.err)"
	cd_driver=$(driver_of containerd)
	kl_driver=$(driver_of kubelet)
	why=$(jq -r '.drivers[] | select(.name == "containerd") | .why' /run/e2e/s16-detect.json)
	figure "${D}_detect" "containerd $cd_driver ($why), kubelet $kl_driver"
	[ "$cd_driver" = $D ] && [ "$kl_driver" = $D ] || fail "with both set to $D, detect says containerd $cd_driver, kubelet $kl_driver"
	case $why in running*) ;; *) fail "detect did not find containerd running: $why" ;; esac
	jq -e '.findings[] | select(.code == "kubelet-runtime-driver-mismatch")' /run/e2e/s16-detect.json >/dev/null &&
		fail "with both set to $D, detect reports a driver mismatch"
	KUBE_SUMMARY="$KUBE_SUMMARY $D: detect $cd_driver/$kl_driver;"
	kube_storm containerd $D 16e2e016 $n
	[ $D = systemd ] && kube_seed containerd $D 16e2e016 $((n + 2))
	n=$((n + 3))
done

configure cgroupfs systemd
memrelief detect -o json >/run/e2e/s16-detect.json 2>/dev/null
mismatch=$(jq -r '.findings[] | select(.code == "kubelet-runtime-driver-mismatch") | .message' /run/e2e/s16-detect.json)
figure mismatch "$mismatch"
[ -n "$mismatch" ] || fail "kubelet systemd, containerd cgroupfs: no mismatch finding; findings: $(jq -c .findings /run/e2e/s16-detect.json)"
pass "$KUBE_SUMMARY mismatch found when they disagree"
