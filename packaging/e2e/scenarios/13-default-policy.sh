# Scenario 13: the packaged default policy, untouched, on the cases the
# project began with.
# a) A negative-dentry storm (~5 MB/s) in a burstable pod slice, once
#    without memrelief and once with it, same boot: the peak slab with it is
#    at most half the peak without, and the first reclaim comes within 10 s
#    of the slab crossing the storm threshold (64M).
# b) grafana/alloy#6938 rebuilt: a pod slice with memory.max 256M, a 40 MB
#    heap in one container scope and an agent making ~1.5 MB/s of dentries in
#    another, kubelet's log layout written. Without memrelief the pod reaches
#    90% of its limit; with it, memory.current stays at or below 70% of the
#    limit from the first minute on, and `memrelief explain NS/POD` names
#    the slab and the agent container.
# E2E_STORM_SECONDS and E2E_ALLOY_SECONDS lengthen the loads for a
# measurement run (BENCHMARKS.md); CI runs the defaults.
# modes: unified
# timeout: 780
. "$SHARE/scenarios/lib.sh"
need_run
need_service
STORM=${E2E_STORM_SECONDS:-90}
ALLOY=${E2E_ALLOY_SECONDS:-150}
P=/etc/memrelief/policy.toml
mkdir -p /etc/memrelief
[ -f $P ] && cp $P /run/e2e/policy.s13.saved
NS=logging
POD=alloy
UID_W=13e2e013-0000-4000-8000-00000000000a
UID_M=13e2e013-0000-4000-8000-00000000000b
ID_H=$(printf 'c1e2e013%056d' 0)
ID_A=$(printf 'c2e2e013%056d' 0)
cleanup() {
	for id in 1301 1302 "$ID_H" "$ID_A"; do stop_load "$id"; done
	stop_load e2e-s13-without
	stop_load e2e-s13-with
	for u in $UID_W $UID_M; do systemctl stop "kubepods-burstable-pod$(echo "$u" | tr - _).slice" 2>/dev/null; done
	stop_memrelief
	rm -rf /var/log/pods/${NS}_${POD}_* /var/log/containers/${POD}_${NS}_*
	if [ -f /run/e2e/policy.s13.saved ]; then cp /run/e2e/policy.s13.saved $P; else rm -f $P; fi
}
trap cleanup EXIT
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# a) the storm.
stop_memrelief
log "storm without memrelief: ${STORM}s"
dentry_load 1301 e2e-s13-without 20000 "$STORM"
sleep 2
without=$(peak_while "$CG/$(pod_path 1301)" "$STORM")
stop_load e2e-s13-without
echo 2G >"$CG/$(pod_path 1301)/memory.reclaim" 2>/dev/null
figure storm_peak_without_bytes "$without"

default_policy
systemctl restart memrelief.service
sleep 3
since=$(date +%s)
log "storm with memrelief (packaged default)"
dentry_load 1302 e2e-s13-with 20000 "$STORM"
cross=""
with=0
i=0
while [ "$i" -lt "$((STORM + 2))" ]; do
	v=$(slab_of "$CG/$(pod_path 1302)")
	if [ -n "$v" ]; then
		[ "$v" -gt "$with" ] && with=$v
		[ -z "$cross" ] && [ "$v" -ge $((64 * 1048576)) ] && cross=$(now_ms)
	fi
	sleep 1
	i=$((i + 1))
done
figure storm_peak_with_bytes "$with"
[ -n "$cross" ] || fail "the storm never reached 64M of slab with memrelief (peak $(mb "$with") MB)"
journal_since "$since" >/run/e2e/s13a.json
# The journal has the reclaim when it ended; it started DURATION_MS before.
act=$(jq -r 'select(.ACTION == "reclaim" and (.CGROUP // "" | test("pod1302"))) | "\(.__REALTIME_TIMESTAMP) \(.DURATION_MS // 0)"' /run/e2e/s13a.json | head -n 1)
[ -n "$act" ] || fail "no reclaim of the storming pod under the default policy: $(jq -r 'select(.CGROUP // "" | test("pod1302")) | .MESSAGE' /run/e2e/s13a.json | head -n 5 | tr '\n' ' ')"
set -- $act
first_ms=$(($1 / 1000 - $2 - cross))
figure storm_first_reclaim_duration_ms "$2"
figure storm_first_action_ms "$first_ms"
figure storm_levels "$(jq -r 'select(.LEVEL != null and (.CGROUP // "" | test("pod1302"))) | .LEVEL' /run/e2e/s13a.json | sort -u | tr '\n' ' ')"
writes=$(jq -r 'select(.ACTION == "reclaim" and (.CGROUP // "" | test("pod1302")) and (.REQUESTED_BYTES // "0" | tonumber) > 0)' /run/e2e/s13a.json | jq -s length)
figure storm_reclaim_writes "$writes"
stop_load e2e-s13-with
[ "$writes" -ge 2 ] || fail "storm: $writes reclaim(s) wrote during the storm; a held memory.reclaim write must not block the next ones ($(jq -r 'select(.ACTION == "reclaim" and (.CGROUP // "" | test("pod1302"))) | .MESSAGE' /run/e2e/s13a.json | head -n 4 | tr '\n' ' '))"
[ $((with * 2)) -le "$without" ] || fail "storm: peak slab $(mb "$with") MB with memrelief, $(mb "$without") MB without: not at most half"
[ "$first_ms" -le 10000 ] || fail "storm: first reclaim $first_ms ms after the slab crossed 64M"
log "a) storm: $(mb "$without") MB -> $(mb "$with") MB, first reclaim $first_ms ms after 64M"

# b) the alloy case. pod_run UID MEMRELIEF? runs both containers for ALLOY
# seconds and prints the highest memory.current/memory.max in percent, over
# the whole run and from the first minute on.
pod_run() {
	_uid=$1
	_slice=kubepods-burstable-pod$(echo "$_uid" | tr - _).slice
	_cg=$CG/$(pod_path "$(echo "$_uid" | tr - _)")
	_log=/var/log/pods/${NS}_${POD}_$_uid
	for c in "app:$ID_H" "agent:$ID_A"; do
		mkdir -p "$_log/${c%%:*}" /var/log/containers
		: >"$_log/${c%%:*}/0.log"
		ln -sfn "$_log/${c%%:*}/0.log" "/var/log/containers/${POD}_${NS}_${c%%:*}-${c#*:}.log"
	done
	GOGC=10 systemd-run --quiet --scope --unit="cri-containerd-$ID_H.scope" --slice="$_slice" -p MemoryAccounting=yes \
		/usr/local/bin/loadgen anon -max 40 -hold >/run/e2e/s13-heap.out 2>&1 &
	for _ in $(seq 1 20); do [ -d "$_cg" ] && break; sleep 0.5; done
	echo $((256 * 1048576)) >"$_cg/memory.max" || echo "could not set memory.max of $_cg" >&2
	GOGC=10 systemd-run --quiet --scope --unit="cri-containerd-$ID_A.scope" --slice="$_slice" -p MemoryAccounting=yes \
		/usr/local/bin/loadgen dentries -dir "/var/tmp/neg-s13-$_uid" -rate 12000 -duration "${ALLOY}s" -hold >/run/e2e/s13-agent.out 2>&1 &
	_all=0
	_late=0
	_i=0
	while [ "$_i" -lt "$ALLOY" ]; do
		_c=$(cat "$_cg/memory.current" 2>/dev/null || echo 0)
		_p=$((_c * 100 / (256 * 1048576)))
		[ "$_p" -gt "$_all" ] && _all=$_p
		[ "$_i" -ge 60 ] && [ "$_p" -gt "$_late" ] && _late=$_p
		sleep 1
		_i=$((_i + 1))
	done
	echo "$_all $_late $(slab_of "$_cg")"
}
pod_stop() {
	stop_load "$ID_H"
	stop_load "$ID_A"
	systemctl stop "kubepods-burstable-pod$(echo "$1" | tr - _).slice" 2>/dev/null
	rm -rf /var/log/pods/${NS}_${POD}_$1
}
stop_memrelief
log "alloy case without memrelief: ${ALLOY}s"
set -- $(pod_run $UID_W)
figure alloy_max_share_without_pct "$1"
pod_stop $UID_W
[ "$1" -ge 90 ] || fail "without memrelief the pod peaked at $1% of its limit: the load does not rebuild the case"

default_policy
systemctl restart memrelief.service
sleep 3
since=$(date +%s)
log "alloy case with memrelief (packaged default): ${ALLOY}s"
set -- $(pod_run $UID_M)
figure alloy_max_share_with_pct "$1"
figure alloy_max_share_after_1min_pct "$2"
memrelief explain "$NS/$POD" >/run/e2e/s13-explain.out 2>&1
figure alloy_explain "$(head -n 8 /run/e2e/s13-explain.out)"
journal_since "$since" >/run/e2e/s13b.json
figure alloy_reclaims "$(jq -r 'select(.ACTION == "reclaim" and .POD_NAME == "alloy")' /run/e2e/s13b.json | jq -s length)"
figure alloy_levels "$(jq -r 'select(.LEVEL != null and .POD_NAME == "alloy") | .LEVEL' /run/e2e/s13b.json | sort -u | tr '\n' ' ')"
pod_stop $UID_M
[ "$2" -le 70 ] || fail "with memrelief the pod reached $2% of its limit after the first minute (at most 70% wanted)"
grep -q "slab" /run/e2e/s13-explain.out && grep -q "agent" /run/e2e/s13-explain.out ||
	fail "explain $NS/$POD names neither slab nor the agent container: $(head -c 600 /run/e2e/s13-explain.out)"
pass "storm: peak slab $(mb "$with") MB with, $(mb "$without") MB without, first reclaim $first_ms ms after 64M; alloy: at most $2% of the limit after the first minute with memrelief (without: up to $(grep -o 'alloy_max_share_without_pct=[0-9]*' "$RESULT" | cut -d= -f2)%)"
