# Scenario 17: Docker as the kubelet drives it through cri-dockerd, under
# both cgroup drivers. For each of systemd and cgroupfs: dockerd's
# daemon.json (native.cgroupdriver) and the kubelet's config say that
# driver and dockerd runs; memrelief detect names the driver of both from
# the running process's configuration, with no mismatch finding; a log
# agent's container (loadgen making dentries, in memrelief's image loaded
# with docker load) runs with the cgroup parent the kubelet gives a pod
# under that driver (docker-<id>.scope in the pod's slice, or
# /kubepods/burstable/pod<uid>/<id>), with the kubelet's log layout, once
# with memrelief stopped and once with the packaged service on its default
# policy, which reclaims the pod's slab; `memrelief explain NS/POD` names
# the pod and the container (kube_storm in lib.sh). Under the cgroupfs
# driver (the seeds' Docker nodes), grafana/alloy#6938 in real containers:
# the pod stays at or below 70% of its limit (kube_seed). Last, the kubelet
# says systemd while dockerd says cgroupfs: the mismatch finding.
# modes: unified
# timeout: 540
. "$SHARE/scenarios/lib.sh"
need_run
need_service
command -v docker >/dev/null || fail "docker is not in the guest image"
[ -f "$KUBE_IMG" ] || fail "no image on the share (make image)"
P=/etc/memrelief/policy.toml
[ -f $P ] && cp $P /run/e2e/policy.s17.saved
cleanup() {
	kube_cleanup 17e2e017
	stop_memrelief
	systemctl stop docker.service docker.socket containerd
	rm -rf /etc/docker/daemon.json /var/lib/kubelet
	if [ -f /run/e2e/policy.s17.saved ]; then cp /run/e2e/policy.s17.saved $P; else rm -f $P; fi
}
trap cleanup EXIT

# configure DOCKER_DRIVER KUBELET_DRIVER, then restart dockerd. No bridge
# and no iptables: the containers need no network, and the guest has none.
configure() {
	mkdir -p /etc/docker /var/lib/kubelet
	cat >/etc/docker/daemon.json <<JSON
{"exec-opts": ["native.cgroupdriver=$1"], "bridge": "none", "iptables": false}
JSON
	cat >/var/lib/kubelet/config.yaml <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: $2
containerRuntimeEndpoint: unix:///run/cri-dockerd.sock
YAML
	systemctl restart docker.service || fail "dockerd did not start with native.cgroupdriver=$1: $(journalctl -u docker -n 5 --no-pager | tr '\n' ' ' | tail -c 400)"
}
driver_of() { jq -r --arg n "$1" '.drivers[] | select(.name == $n) | .driver' /run/e2e/s17-detect.json; }

cp "$SHARE/stage/etc/memrelief/policy.toml" $P
stop_memrelief
configure systemd systemd
docker load -i "$KUBE_IMG" >/dev/null || fail "docker load refused the image"
docker image inspect localhost/memrelief:latest >/dev/null || fail "docker load did not tag localhost/memrelief:latest"

KUBE_SUMMARY=
n=0
for D in systemd cgroupfs; do
	[ $n = 0 ] || configure $D $D # the first is the one the image was loaded under
	memrelief detect -o json >/run/e2e/s17-detect.json 2>/run/e2e/s17-detect.err || fail "detect failed: $(head -c 300 /run/e2e/s17-detect.err)"
	dk_driver=$(driver_of docker)
	kl_driver=$(driver_of kubelet)
	why=$(jq -r '.drivers[] | select(.name == "docker") | .why' /run/e2e/s17-detect.json)
	figure "${D}_detect" "docker $dk_driver ($why), kubelet $kl_driver"
	[ "$dk_driver" = $D ] && [ "$kl_driver" = $D ] || fail "with both set to $D, detect says docker $dk_driver, kubelet $kl_driver"
	case $why in running*) ;; *) fail "detect did not find dockerd running: $why" ;; esac
	jq -e '.findings[] | select(.code == "kubelet-runtime-driver-mismatch")' /run/e2e/s17-detect.json >/dev/null &&
		fail "with both set to $D, detect reports a driver mismatch"
	KUBE_SUMMARY="$KUBE_SUMMARY $D: detect $dk_driver/$kl_driver;"
	kube_storm docker $D 17e2e017 $n
	[ $D = cgroupfs ] && kube_seed docker $D 17e2e017 $((n + 2))
	n=$((n + 3))
done

configure cgroupfs systemd
memrelief detect -o json >/run/e2e/s17-detect.json 2>/dev/null
mismatch=$(jq -r '.findings[] | select(.code == "kubelet-runtime-driver-mismatch") | .message' /run/e2e/s17-detect.json)
figure mismatch "$mismatch"
[ -n "$mismatch" ] || fail "kubelet systemd, dockerd cgroupfs: no mismatch finding; findings: $(jq -c .findings /run/e2e/s17-detect.json)"
pass "$KUBE_SUMMARY mismatch found when they disagree"
