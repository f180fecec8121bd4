# Scenario 17: Docker as the kubelet drives it through cri-dockerd, under
# both cgroup drivers. For each of systemd and cgroupfs: dockerd's
# daemon.json (native.cgroupdriver) and the kubelet's config say that
# driver and dockerd runs; memrelief detect names the driver of both from
# the running process's configuration, with no mismatch finding; a log
# agent's container (loadgen making dentries, in memrelief's image loaded
# with docker load) runs with the cgroup parent the kubelet gives a pod
# under that driver (docker-<id>.scope in the pod's slice, or
# /kubepods/burstable/pod<uid>/<id>), with the kubelet's log layout; the
# packaged service on its default policy reclaims the pod's slab, and
# `memrelief explain NS/POD` names the pod and the container. Last, the
# kubelet says systemd while dockerd says cgroupfs: the mismatch finding.
# modes: unified
# timeout: 300
. "$SHARE/scenarios/lib.sh"
need_run
need_service
IMG=$SHARE/artifacts/memrelief-image.tar
command -v docker >/dev/null || fail "docker is not in the guest image"
[ -f "$IMG" ] || fail "no image on the share (make image)"
SECS=${E2E_DRIVER_STORM_SECONDS:-45}
NS=logging
POD=fluent-bit
P=/etc/memrelief/policy.toml
[ -f $P ] && cp $P /run/e2e/policy.s17.saved
cleanup() {
	docker rm -f $(docker ps -aq 2>/dev/null) >/dev/null 2>&1
	stop_memrelief
	systemctl stop docker.service docker.socket containerd
	for s in $(systemctl list-units --plain --no-legend 'kubepods-burstable-pod17e2e017*' | cut -d' ' -f1); do systemctl stop "$s"; done
	for d in "$CG"/kubepods/burstable/pod17e2e017-*; do [ -d "$d" ] && rmdir "$d"; done
	rmdir "$CG/kubepods/burstable" "$CG/kubepods" 2>/dev/null
	rm -rf /etc/docker/daemon.json /var/lib/kubelet /var/log/pods/${NS}_${POD}_* /var/log/containers/${POD}_${NS}_*
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
docker load -i "$IMG" >/dev/null || fail "docker load refused the image"
docker image inspect localhost/memrelief:latest >/dev/null || fail "docker load did not tag localhost/memrelief:latest"

summary=
n=0
for D in systemd cgroupfs; do
	n=$((n + 1))
	[ $n = 1 ] || configure $D $D # the first is the one the image was loaded under
	memrelief detect -o json >/run/e2e/s17-detect.json 2>/run/e2e/s17-detect.err || fail "detect failed: $(head -c 300 /run/e2e/s17-detect.err)"
	dk_driver=$(driver_of docker)
	kl_driver=$(driver_of kubelet)
	why=$(jq -r '.drivers[] | select(.name == "docker") | .why' /run/e2e/s17-detect.json)
	figure "${D}_detect" "docker $dk_driver ($why), kubelet $kl_driver"
	[ "$dk_driver" = $D ] && [ "$kl_driver" = $D ] || fail "with both set to $D, detect says docker $dk_driver, kubelet $kl_driver"
	case $why in running*) ;; *) fail "detect did not find dockerd running: $why" ;; esac
	jq -e '.findings[] | select(.code == "kubelet-runtime-driver-mismatch")' /run/e2e/s17-detect.json >/dev/null &&
		fail "with both set to $D, detect reports a driver mismatch"

	uid=17e2e017-0000-4000-8000-00000000000$n
	if [ $D = systemd ]; then
		parent=kubepods-burstable-pod$(echo $uid | tr - _).slice
		podcg=$CG/$(pod_path "$(echo $uid | tr - _)")
	else
		parent=/kubepods/burstable/pod$uid
		podcg=$CG/kubepods/burstable/pod$uid
	fi
	logd=/var/log/pods/${NS}_${POD}_$uid/agent
	mkdir -p "$logd" /var/log/containers
	: >"$logd/0.log"
	since=$(date +%s)
	systemctl restart memrelief.service
	sleep 3
	# The guest's kernel has AppArmor and the image no apparmor_parser
	# (docker.io only recommends it): no profile, as with --privileged.
	cid=$(docker run -d --cgroup-parent "$parent" --network none --security-opt apparmor=unconfined --entrypoint /loadgen \
		-v /usr/local/bin/loadgen:/loadgen:ro -v /var/tmp:/var/tmp localhost/memrelief:latest \
		dentries -dir "/var/tmp/neg-s17-$D" -rate 20000 -duration "${SECS}s" -hold 2>"/run/e2e/s17-$D.err") ||
		fail "$D driver: docker run failed: $(head -c 300 "/run/e2e/s17-$D.err")"
	ln -sfn "$logd/0.log" "/var/log/containers/${POD}_${NS}_agent-$cid.log"
	log "$D driver: agent container $cid in $parent, $SECS s of dentries"
	for _ in $(seq 20); do [ -d "$podcg" ] && break; sleep 0.5; done
	[ -d "$podcg" ] || fail "$D driver: no pod cgroup $podcg after docker run"
	ccg=$(find "$podcg" -mindepth 1 -maxdepth 1 -type d -name "*$cid*" | head -n 1)
	figure "${D}_container_cgroup" "${ccg#"$CG"}"
	[ -n "$ccg" ] || fail "$D driver: no cgroup of container $cid under $podcg: $(ls "$podcg")"
	peak=$(peak_while "$podcg" "$SECS")
	figure "${D}_peak_bytes" "$peak"
	memrelief explain "$NS/$POD" >"/run/e2e/s17-$D-explain.out" 2>&1
	journal_since "$since" >"/run/e2e/s17-$D.json"
	reclaims=$(jq -r --arg p "$POD" 'select(.ACTION == "reclaim" and .POD_NAME == $p and (.RESULT == "ok" or .RESULT == "partial"))' "/run/e2e/s17-$D.json" | jq -s length)
	figure "${D}_reclaims" "$reclaims"
	figure "${D}_explain" "$(head -n 6 "/run/e2e/s17-$D-explain.out")"
	docker rm -f "$cid" >/dev/null 2>&1
	[ "$reclaims" -gt 0 ] || fail "$D driver: no reclaim of pod $NS/$POD in the journal (peak slab $(mb "$peak") MB)"
	[ "$peak" -le $((128 * 1048576)) ] || fail "$D driver: the pod's slab peaked at $(mb "$peak") MB with memrelief"
	grep -q "$POD" "/run/e2e/s17-$D-explain.out" && grep -q "agent" "/run/e2e/s17-$D-explain.out" && grep -q slab "/run/e2e/s17-$D-explain.out" ||
		fail "$D driver: explain $NS/$POD names not the pod, its agent container and the slab: $(head -c 500 "/run/e2e/s17-$D-explain.out")"
	rm -rf "/var/log/pods/${NS}_${POD}_$uid" "/var/log/containers/${POD}_${NS}_agent-$cid.log"
	summary="$summary $D: detect $dk_driver/$kl_driver, peak $(mb "$peak") MB, $reclaims reclaims;"
done

configure cgroupfs systemd
memrelief detect -o json >/run/e2e/s17-detect.json 2>/dev/null
mismatch=$(jq -r '.findings[] | select(.code == "kubelet-runtime-driver-mismatch") | .message' /run/e2e/s17-detect.json)
figure mismatch "$mismatch"
[ -n "$mismatch" ] || fail "kubelet systemd, dockerd cgroupfs: no mismatch finding; findings: $(jq -c .findings /run/e2e/s17-detect.json)"
pass "$summary mismatch found when they disagree"
