# Sourced by every scenario. Results are key=value lines in $RESULT:
# status (pass|fail|skip), message (one line), figure.NAME (one value each).
# pass/fail/skip end the scenario; the EXIT trap runs its cleanup.

: "${RESULT:?RESULT must name the result file}"
CG=/sys/fs/cgroup
# Settings a developer passes from the host (MEMRELIEF_E2E_GUEST_ENV), such
# as longer loads for a measurement run; CI passes none.
[ -f "$SHARE/env" ] && . "$SHARE/env"

put() { printf '%s=%s\n' "$1" "$(printf '%s' "$2" | tr '\n' ' ')" >>"$RESULT"; }
pass() { put status pass; put message "$*"; exit 0; }
fail() { put status fail; put message "$*"; exit 1; }
skip() { put status skip; put message "$*"; exit 0; }
figure() { put "figure.$1" "$2"; echo "figure $1=$2"; }
log() { echo "$(date +%T) $*"; }

# Feature gates: each skips the scenario with the missing feature and the
# issue that delivers it, so a skip says exactly what turns the scenario on.
has_command() { memrelief --help 2>&1 | grep -Eq "^[[:space:]]+$1[[:space:]]"; }
need_detect() {
	memrelief detect --json >/run/e2e/detect.json 2>/run/e2e/detect.err &&
		jq -e '.cgroup.mode | strings' /run/e2e/detect.json >/dev/null 2>&1 ||
		skip "memrelief detect --json with .cgroup.mode not available yet (issue 2: detect): $(head -c 200 /run/e2e/detect.err)"
}
need_run() { has_command run || skip "memrelief run not available yet (issue 4: engine/run)"; }
need_service() {
	[ -f /usr/lib/systemd/system/memrelief.service ] ||
		skip "memrelief.service not installed: systemd/memrelief.service absent (issue 5: service unit)"
}
need_check() { has_command check && memrelief check >/dev/null 2>&1 || skip "memrelief check of the default policy not working yet (issue 3: policy)"; }
need_deb() { ls "$SHARE"/artifacts/*.deb >/dev/null 2>&1 || skip "no .deb built: make package absent (issue 5: packages)"; }

# start_memrelief installs the scenarios' policy (small thresholds, short dwell)
# and runs the daemon as the service when the unit is installed, otherwise as
# a transient unit with the same name so journal queries match.
start_memrelief() {
	mkdir -p /etc/memrelief
	cp "$SHARE/scenarios/policy-e2e.toml" /etc/memrelief/policy.toml
	memrelief check /etc/memrelief/policy.toml >/run/e2e/check.out 2>&1 ||
		fail "the e2e policy does not validate: $(cat /run/e2e/check.out)"
	# restart, not start: the package starts the service at install, and a
	# running daemon would keep the policy it started with.
	if [ -f /usr/lib/systemd/system/memrelief.service ]; then
		systemctl restart memrelief.service
	else
		stop_memrelief
		systemd-run --quiet --unit=memrelief.service -p MemoryAccounting=yes /usr/bin/memrelief run "$@"
	fi
}
# default_policy installs the package's own policy file, as an operator who
# changed nothing has it, and checks it byte for byte.
default_policy() {
	mkdir -p /etc/memrelief
	cp "$SHARE/stage/etc/memrelief/policy.toml" /etc/memrelief/policy.toml
	cmp -s /etc/memrelief/policy.toml "$SHARE/stage/etc/memrelief/policy.toml" || fail "could not install the packaged default policy"
}
stop_memrelief() { systemctl stop memrelief.service 2>/dev/null; systemctl reset-failed memrelief.service 2>/dev/null; true; }

# slab_of CGROUPDIR prints slab_reclaimable in bytes (v2).
slab_of() { sed -n 's/^slab_reclaimable //p' "$1/memory.stat" 2>/dev/null; }

# pod_path UID prints the systemd-driver path of a burstable pod slice.
pod_path() { echo "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod$1.slice"; }

# dentry_load UID NAME RATE SECONDS starts loadgen in a containerd-like scope
# of a burstable pod slice, making negative dentries at RATE a second.
dentry_load() {
	systemd-run --quiet --scope --unit="cri-containerd-$2.scope" --slice="kubepods-burstable-pod$1.slice" \
		-p MemoryAccounting=yes \
		/usr/local/bin/loadgen dentries -dir "/var/tmp/neg-$2" -rate "$3" -duration "$4s" -hold \
		>"/run/e2e/loadgen-$2.out" 2>&1 &
}
stop_load() { systemctl kill --signal=SIGKILL "cri-containerd-$1.scope" 2>/dev/null; true; }

# peak_while DIR SECONDS samples slab_reclaimable of DIR every second and
# prints the highest value seen.
peak_while() {
	_peak=0
	_i=0
	while [ "$_i" -lt "$2" ]; do
		_v=$(slab_of "$1")
		[ -n "$_v" ] && [ "$_v" -gt "$_peak" ] && _peak=$_v
		sleep 1
		_i=$((_i + 1))
	done
	echo "$_peak"
}

# watching: how many cgroups the daemon watches, from its sd_notify status.
watching() { systemctl show -P StatusText memrelief.service | sed -n 's/^watching \([0-9]*\) cgroups.*/\1/p'; }
# journal_since EPOCH prints memrelief's journal entries since EPOCH (date +%s) as
# JSON lines.
journal_since() { journalctl -u memrelief.service --since "@$1" -o json --no-pager -q 2>/dev/null; }

mb() { echo $(($1 / 1048576)); }

# The slab threshold of policy-e2e.toml's pods rule and the peak that still
# counts as "bounded near it": one sample interval and one cooldown of
# generator growth (~5 MB/s under TCG) above it, with room for reclaim lag.
SLAB_THRESHOLD=$((48 * 1048576))
SLAB_BOUND=$((SLAB_THRESHOLD * 5 / 2))
# The PSI threshold of its services rule, in percent.
PSI_THRESHOLD=5

# reinstall_if_purged puts the package back when scenario 9 (package
# lifecycle) has purged it, so scenarios sorted after it find the daemon
# they test. Without a .deb scenario 9 skips and nothing was removed.
reinstall_if_purged() {
	command -v memrelief >/dev/null 2>&1 && return 0
	for _deb in "$SHARE"/artifacts/*.deb; do break; done
	[ -f "$_deb" ] || fail "memrelief is not installed and there is no .deb to install"
	log "memrelief was purged (scenario 9): reinstalling $(basename "$_deb")"
	DEBIAN_FRONTEND=noninteractive dpkg -i "$_deb" >/run/e2e/reinstall.out 2>&1 ||
		fail "reinstalling the package after scenario 9 failed: $(tail -n 3 /run/e2e/reinstall.out)"
}

# Real container runtimes (scenarios 16 and 17). Pods are named after
# KUBE_NS/KUBE_POD in the kubelet's log layout, with UIDs that begin with a
# scenario's prefix so its cleanup finds them. memrelief's image has no
# shell, so its containers run loadgen, bind-mounted from the guest.
KUBE_IMG=$SHARE/artifacts/memrelief-image.tar
KUBE_NS=logging
KUBE_POD=fluent-bit

# kube_uid PREFIX N prints the UID of pod N of a scenario.
kube_uid() { printf '%s-0000-4000-8000-%012d' "$1" "$2"; }

# kube_pod_cg DRIVER UID prints the cgroup the kubelet gives a burstable pod
# under DRIVER.
kube_pod_cg() {
	if [ "$1" = systemd ]; then
		echo "$CG/$(pod_path "$(echo "$2" | tr - _)")"
	else
		echo "$CG/kubepods/burstable/pod$2"
	fi
}

# kube_log UID CONTAINER ID writes the kubelet's log layout for one
# container of KUBE_NS/KUBE_POD: how memrelief learns pod and container names.
kube_log() {
	_d=/var/log/pods/${KUBE_NS}_${KUBE_POD}_$1/$2
	mkdir -p "$_d" /var/log/containers
	: >"$_d/0.log"
	ln -sfn "$_d/0.log" "/var/log/containers/${KUBE_POD}_${KUBE_NS}_$2-$3.log"
}

# kube_run RUNTIME DRIVER UID NAME LOADGEN-ARGS... starts loadgen as
# container NAME of pod UID, in the cgroup the kubelet would have the
# runtime give it under DRIVER, writes its log layout and prints its id.
# containerd's runs under ctr in the background with an id chosen here, as
# the CRI plugin chooses one; Docker's is detached and Docker names it.
kube_run() {
	_rt=$1
	_drv=$2
	_uid=$3
	_name=$4
	shift 4
	case $_rt in
	containerd)
		_id=$(printf '%s/%s' "$_uid" "$_name" | sha256sum | cut -c1-64)
		_sd=
		_cgp=/kubepods/burstable/pod$_uid/$_id
		if [ "$_drv" = systemd ]; then
			_sd=--runc-systemd-cgroup
			_cgp=kubepods-burstable-pod$(echo "$_uid" | tr - _).slice:cri-containerd:$_id
		fi
		# shellcheck disable=SC2086
		ctr -n k8s.io run $_sd --cgroup "$_cgp" --env GOGC=10 \
			--mount type=bind,src=/usr/local/bin/loadgen,dst=/loadgen,options=rbind:ro \
			--mount type=bind,src=/var/tmp,dst=/var/tmp,options=rbind:rw \
			localhost/memrelief:latest "$_id" /loadgen "$@" >"/run/e2e/kube-$_id.out" 2>&1 &
		;;
	docker)
		_parent=/kubepods/burstable/pod$_uid
		[ "$_drv" = systemd ] && _parent=kubepods-burstable-pod$(echo "$_uid" | tr - _).slice
		# The guest's kernel has AppArmor and the image no apparmor_parser
		# (docker.io only recommends it): no profile, as with --privileged.
		_id=$(docker run -d --cgroup-parent "$_parent" --network none --security-opt apparmor=unconfined \
			-e GOGC=10 --entrypoint /loadgen -v /usr/local/bin/loadgen:/loadgen:ro -v /var/tmp:/var/tmp \
			localhost/memrelief:latest "$@" 2>"/run/e2e/kube-$_uid-$_name.err") || {
			echo "docker run: $(head -c 300 "/run/e2e/kube-$_uid-$_name.err")" >&2
			return 1
		}
		;;
	*) return 1 ;;
	esac
	kube_log "$_uid" "$_name" "$_id"
	echo "$_id"
}

# kube_stop RUNTIME ID kills and removes one container.
kube_stop() {
	if [ "$1" = containerd ]; then
		ctr -n k8s.io task kill -s SIGKILL "$2" 2>/dev/null
		sleep 1
		ctr -n k8s.io task rm -f "$2" 2>/dev/null
		ctr -n k8s.io container rm "$2" 2>/dev/null
	else
		docker rm -f "$2" >/dev/null 2>&1
	fi
	true
}

# kube_wait_cg DIR waits up to 10 s for a pod's cgroup to appear.
kube_wait_cg() {
	for _ in $(seq 20); do
		[ -d "$1" ] && return 0
		sleep 0.5
	done
	return 1
}

# kube_cleanup PREFIX removes every container, the pods of a scenario (the
# systemd driver's slices, and the parents runc leaves under the cgroupfs
# driver) and their logs.
kube_cleanup() {
	if command -v ctr >/dev/null && systemctl -q is-active containerd; then
		for _id in $(ctr -n k8s.io task ls -q 2>/dev/null); do ctr -n k8s.io task kill -s SIGKILL "$_id"; done
		sleep 1
		for _id in $(ctr -n k8s.io container ls -q 2>/dev/null); do
			ctr -n k8s.io task rm -f "$_id" 2>/dev/null
			ctr -n k8s.io container rm "$_id"
		done
	fi
	systemctl -q is-active docker.service && docker rm -f $(docker ps -aq) >/dev/null 2>&1
	for _s in $(systemctl list-units --plain --no-legend "kubepods-burstable-pod$1*" | cut -d' ' -f1); do systemctl stop "$_s"; done
	for _d in "$CG"/kubepods/burstable/pod"$1"-*; do [ -d "$_d" ] && rmdir "$_d"; done
	rmdir "$CG/kubepods/burstable" "$CG/kubepods" 2>/dev/null
	rm -rf /var/log/pods/${KUBE_NS}_${KUBE_POD}_"$1"-* /var/log/containers/${KUBE_POD}_${KUBE_NS}_* /var/tmp/neg-kube-"$1"-*
	true
}

# kube_storm RUNTIME DRIVER PREFIX N: issue 12's table for one runtime and
# driver. A log agent's container makes 20,000 dentries a second for
# E2E_DRIVER_STORM_SECONDS (45), first with memrelief stopped (pod N), then
# with the packaged service on the policy in place (pod N+1). Records
# DRIVER_peak_without_bytes, DRIVER_peak_bytes, DRIVER_reclaims and
# DRIVER_explain; fails unless memrelief reclaimed the pod, held its slab to
# 128M and below the peak without it, and `memrelief explain NS/POD` names
# the pod, its agent container and the slab. Appends a line to KUBE_SUMMARY.
kube_storm() {
	_secs=${E2E_DRIVER_STORM_SECONDS:-45}
	_tag="$1 $2"
	stop_memrelief
	_uid=$(kube_uid "$3" "$4")
	_cg=$(kube_pod_cg "$2" "$_uid")
	_id=$(kube_run "$1" "$2" "$_uid" agent dentries -dir "/var/tmp/neg-kube-$3-$4" -rate 20000 -duration "${_secs}s" -hold) ||
		fail "$_tag: the agent's container did not start"
	kube_wait_cg "$_cg" || fail "$_tag: no pod cgroup $_cg: $(cat "/run/e2e/kube-$_id.out" 2>/dev/null | head -c 300)"
	log "$_tag: agent container $_id, $_secs s of dentries without memrelief"
	_without=$(peak_while "$_cg" "$_secs")
	figure "$2_peak_without_bytes" "$_without"
	echo 2G >"$_cg/memory.reclaim" 2>/dev/null
	kube_stop "$1" "$_id"
	rm -rf "/var/log/pods/${KUBE_NS}_${KUBE_POD}_$_uid" "/var/log/containers/${KUBE_POD}_${KUBE_NS}_agent-$_id.log"

	_since=$(date +%s)
	systemctl restart memrelief.service
	sleep 3
	_uid=$(kube_uid "$3" $(($4 + 1)))
	_cg=$(kube_pod_cg "$2" "$_uid")
	_id=$(kube_run "$1" "$2" "$_uid" agent dentries -dir "/var/tmp/neg-kube-$3-$(($4 + 1))" -rate 20000 -duration "${_secs}s" -hold) ||
		fail "$_tag: the agent's container did not start"
	kube_wait_cg "$_cg" || fail "$_tag: no pod cgroup $_cg: $(cat "/run/e2e/kube-$_id.out" 2>/dev/null | head -c 300)"
	_ccg=$(find "$_cg" -mindepth 1 -maxdepth 1 -type d -name "*$_id*" | head -n 1)
	figure "$2_container_cgroup" "${_ccg#"$CG"}"
	[ -n "$_ccg" ] || fail "$_tag: no cgroup of container $_id under $_cg: $(ls "$_cg")"
	log "$_tag: agent container $_id in ${_ccg#"$CG"}, $_secs s of dentries with memrelief"
	_with=$(peak_while "$_cg" "$_secs")
	figure "$2_peak_bytes" "$_with"
	memrelief explain "$KUBE_NS/$KUBE_POD" >"/run/e2e/kube-$2-explain.out" 2>&1
	journal_since "$_since" >"/run/e2e/kube-$2.json"
	_n=$(jq -r --arg p "$KUBE_POD" 'select(.ACTION == "reclaim" and .POD_NAME == $p and (.RESULT == "ok" or .RESULT == "partial"))' "/run/e2e/kube-$2.json" | jq -s length)
	figure "$2_reclaims" "$_n"
	figure "$2_explain" "$(head -n 6 "/run/e2e/kube-$2-explain.out")"
	kube_stop "$1" "$_id"
	[ "$_n" -gt 0 ] || fail "$_tag: no reclaim of pod $KUBE_NS/$KUBE_POD in the journal (peak slab $(mb "$_with") MB)"
	[ "$_with" -le $((128 * 1048576)) ] || fail "$_tag: the pod's slab peaked at $(mb "$_with") MB with memrelief"
	[ "$_with" -lt "$_without" ] || fail "$_tag: the pod's slab peaked at $(mb "$_with") MB with memrelief, $(mb "$_without") MB without"
	grep -q "$KUBE_POD" "/run/e2e/kube-$2-explain.out" && grep -q agent "/run/e2e/kube-$2-explain.out" && grep -q slab "/run/e2e/kube-$2-explain.out" ||
		fail "$_tag: explain $KUBE_NS/$KUBE_POD names not the pod, its agent container and the slab: $(head -c 500 "/run/e2e/kube-$2-explain.out")"
	rm -rf "/var/log/pods/${KUBE_NS}_${KUBE_POD}_$_uid" "/var/log/containers/${KUBE_POD}_${KUBE_NS}_agent-$_id.log" /var/tmp/neg-kube-"$3"-*
	KUBE_SUMMARY="$KUBE_SUMMARY $2: peak slab $(mb "$_with") MB with memrelief, $(mb "$_without") MB without, $_n reclaims;"
}

# kube_seed RUNTIME DRIVER PREFIX N: grafana/alloy#6938 (scenario 13 b) in
# real containers, with the packaged service running: pod N limited to 256M
# as the kubelet limits it, an app container holding a 40 MB heap and a log
# agent's container making 12,000 dentries a second, for E2E_SEED_SECONDS
# (120). Scenario 13 shows this load takes the pod past 90% of its limit
# without memrelief; here memory.current must stay at or below 70% of the
# limit from the first minute on, and explain must name the slab and the
# agent container. Appends a line to KUBE_SUMMARY.
kube_seed() {
	_secs=${E2E_SEED_SECONDS:-120}
	_tag="$1 $2 seed"
	_lim=$((256 * 1048576))
	_uid=$(kube_uid "$3" "$4")
	_cg=$(kube_pod_cg "$2" "$_uid")
	_since=$(date +%s)
	_app=$(kube_run "$1" "$2" "$_uid" app anon -max 40 -hold) || fail "$_tag: the app container did not start"
	kube_wait_cg "$_cg" || fail "$_tag: no pod cgroup $_cg: $(cat "/run/e2e/kube-$_app.out" 2>/dev/null | head -c 300)"
	echo "$_lim" >"$_cg/memory.max" || fail "$_tag: could not limit $_cg to 256M"
	_agent=$(kube_run "$1" "$2" "$_uid" agent dentries -dir "/var/tmp/neg-kube-$3-$4" -rate 12000 -duration "${_secs}s" -hold) ||
		fail "$_tag: the agent's container did not start"
	log "$_tag: app $_app, agent $_agent in pod $_uid limited to 256M, ${_secs}s"
	_all=0
	_late=0
	_i=0
	while [ "$_i" -lt "$_secs" ]; do
		_p=$(($(cat "$_cg/memory.current" 2>/dev/null || echo 0) * 100 / _lim))
		[ "$_p" -gt "$_all" ] && _all=$_p
		[ "$_i" -ge 60 ] && [ "$_p" -gt "$_late" ] && _late=$_p
		sleep 1
		_i=$((_i + 1))
	done
	_slab=$(slab_of "$_cg")
	figure "$2_seed_max_share_pct" "$_all"
	figure "$2_seed_max_share_after_1min_pct" "$_late"
	figure "$2_seed_slab_end_bytes" "$_slab"
	memrelief explain "$KUBE_NS/$KUBE_POD" >"/run/e2e/kube-$2-seed-explain.out" 2>&1
	figure "$2_seed_explain" "$(head -n 8 "/run/e2e/kube-$2-seed-explain.out")"
	journal_since "$_since" >"/run/e2e/kube-$2-seed.json"
	_n=$(jq -r --arg p "$KUBE_POD" 'select(.ACTION == "reclaim" and .POD_NAME == $p and (.RESULT == "ok" or .RESULT == "partial"))' "/run/e2e/kube-$2-seed.json" | jq -s length)
	figure "$2_seed_reclaims" "$_n"
	kube_stop "$1" "$_agent"
	kube_stop "$1" "$_app"
	# A heap that never arrived would make the share look good.
	[ "$_all" -ge 15 ] || fail "$_tag: the pod never held the app's 40 MB heap (at most $_all% of its limit): the load did not run"
	[ "$_n" -gt 0 ] || fail "$_tag: no reclaim of pod $KUBE_NS/$KUBE_POD in the journal (at most $_all% of its limit)"
	[ "$_late" -le 70 ] || fail "$_tag: with memrelief the pod reached $_late% of its limit after the first minute (at most 70% wanted)"
	grep -q slab "/run/e2e/kube-$2-seed-explain.out" && grep -q agent "/run/e2e/kube-$2-seed-explain.out" ||
		fail "$_tag: explain $KUBE_NS/$KUBE_POD names neither slab nor the agent container: $(head -c 600 "/run/e2e/kube-$2-seed-explain.out")"
	rm -rf /var/log/pods/${KUBE_NS}_${KUBE_POD}_"$_uid" /var/log/containers/${KUBE_POD}_${KUBE_NS}_* /var/tmp/neg-kube-"$3"-*
	KUBE_SUMMARY="$KUBE_SUMMARY $2 seed: at most $_late% of the 256M limit after the first minute (max $_all%), $_n reclaims;"
}
