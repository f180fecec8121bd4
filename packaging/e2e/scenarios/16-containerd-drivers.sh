# Scenario 16: containerd driven as the kubelet drives it, under both cgroup
# drivers. For each of systemd and cgroupfs: containerd's config
# (SystemdCgroup) and the kubelet's (cgroupDriver) say that driver and
# containerd runs; memrelief detect names the driver of both from the
# running process's configuration, with no mismatch finding; a log agent's
# container (loadgen making dentries, in memrelief's image) runs in the
# cgroup the kubelet would give it under that driver, with the kubelet's log
# layout; the packaged service on its default policy reclaims the pod's
# slab, and `memrelief explain NS/POD` names the pod and the container.
# Last, the kubelet says systemd while containerd says cgroupfs: detect's
# mismatch finding.
# modes: unified
# timeout: 300
. "$SHARE/scenarios/lib.sh"
need_run
need_service
IMG=$SHARE/artifacts/memrelief-image.tar
command -v ctr >/dev/null || fail "containerd (ctr) is not in the guest image"
[ -f "$IMG" ] || fail "no image on the share (make image)"
SECS=${E2E_DRIVER_STORM_SECONDS:-45}
NS=logging
POD=fluent-bit
P=/etc/memrelief/policy.toml
ctrk() { ctr -n k8s.io "$@"; }
[ -f $P ] && cp $P /run/e2e/policy.s16.saved
cleanup() {
	for id in $(ctrk task ls -q 2>/dev/null); do ctrk task kill -s SIGKILL "$id"; done
	sleep 1
	for id in $(ctrk container ls -q 2>/dev/null); do ctrk task rm -f "$id" 2>/dev/null; ctrk container rm "$id"; done
	stop_memrelief
	systemctl stop containerd
	for s in $(systemctl list-units --plain --no-legend 'kubepods-burstable-pod16e2e016*' | cut -d' ' -f1); do systemctl stop "$s"; done
	# runc leaves the cgroupfs driver's parents behind.
	for d in "$CG"/kubepods/burstable/pod16e2e016-*; do [ -d "$d" ] && rmdir "$d"; done
	rmdir "$CG/kubepods/burstable" "$CG/kubepods" 2>/dev/null
	rm -rf /etc/containerd/config.toml /var/lib/kubelet /var/log/pods/${NS}_${POD}_* /var/log/containers/${POD}_${NS}_*
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
ctrk images import "$IMG" >/dev/null || fail "ctr images import refused the image"

summary=
n=0
for D in systemd cgroupfs; do
	n=$((n + 1))
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

	uid=16e2e016-0000-4000-8000-00000000000$n
	cid=$(printf 'a%dc2e016%055d' $n 0)
	if [ $D = systemd ]; then
		cgflags="--runc-systemd-cgroup --cgroup kubepods-burstable-pod$(echo $uid | tr - _).slice:cri-containerd:$cid"
		podcg=$CG/$(pod_path "$(echo $uid | tr - _)")
	else
		cgflags="--cgroup /kubepods/burstable/pod$uid/$cid"
		podcg=$CG/kubepods/burstable/pod$uid
	fi
	logd=/var/log/pods/${NS}_${POD}_$uid/agent
	mkdir -p "$logd" /var/log/containers
	: >"$logd/0.log"
	ln -sfn "$logd/0.log" "/var/log/containers/${POD}_${NS}_agent-$cid.log"
	since=$(date +%s)
	systemctl restart memrelief.service
	sleep 3
	log "$D driver: agent container $cid, $SECS s of dentries"
	# shellcheck disable=SC2086
	ctrk run $cgflags --mount type=bind,src=/usr/local/bin/loadgen,dst=/loadgen,options=rbind:ro \
		--mount type=bind,src=/var/tmp,dst=/var/tmp,options=rbind:rw localhost/memrelief:latest "$cid" \
		/loadgen dentries -dir "/var/tmp/neg-s16-$D" -rate 20000 -duration "${SECS}s" -hold >"/run/e2e/s16-$D.out" 2>&1 &
	for _ in $(seq 20); do [ -d "$podcg" ] && break; sleep 0.5; done
	[ -d "$podcg" ] || fail "$D driver: no pod cgroup $podcg after ctr run: $(head -c 300 /run/e2e/s16-$D.out)"
	peak=$(peak_while "$podcg" "$SECS")
	figure "${D}_peak_bytes" "$peak"
	memrelief explain "$NS/$POD" >"/run/e2e/s16-$D-explain.out" 2>&1
	journal_since "$since" >"/run/e2e/s16-$D.json"
	reclaims=$(jq -r --arg p "$POD" 'select(.ACTION == "reclaim" and .POD_NAME == $p and (.RESULT == "ok" or .RESULT == "partial"))' "/run/e2e/s16-$D.json" | jq -s length)
	figure "${D}_reclaims" "$reclaims"
	figure "${D}_explain" "$(head -n 6 "/run/e2e/s16-$D-explain.out")"
	ctrk task kill -s SIGKILL "$cid" 2>/dev/null
	sleep 1
	ctrk task rm -f "$cid" 2>/dev/null
	ctrk container rm "$cid" 2>/dev/null
	[ "$reclaims" -gt 0 ] || fail "$D driver: no reclaim of pod $NS/$POD in the journal (peak slab $(mb "$peak") MB)"
	[ "$peak" -le $((128 * 1048576)) ] || fail "$D driver: the pod's slab peaked at $(mb "$peak") MB with memrelief"
	grep -q "$POD" "/run/e2e/s16-$D-explain.out" && grep -q "agent" "/run/e2e/s16-$D-explain.out" && grep -q slab "/run/e2e/s16-$D-explain.out" ||
		fail "$D driver: explain $NS/$POD names not the pod, its agent container and the slab: $(head -c 500 "/run/e2e/s16-$D-explain.out")"
	rm -rf "/var/log/pods/${NS}_${POD}_$uid" "/var/log/containers/${POD}_${NS}_agent-$cid.log"
	summary="$summary $D: detect $cd_driver/$kl_driver, peak $(mb "$peak") MB, $reclaims reclaims;"
done

configure cgroupfs systemd
memrelief detect -o json >/run/e2e/s16-detect.json 2>/dev/null
mismatch=$(jq -r '.findings[] | select(.code == "kubelet-runtime-driver-mismatch") | .message' /run/e2e/s16-detect.json)
figure mismatch "$mismatch"
[ -n "$mismatch" ] || fail "kubelet systemd, containerd cgroupfs: no mismatch finding; findings: $(jq -c .findings /run/e2e/s16-detect.json)"
pass "$summary mismatch found when they disagree"
