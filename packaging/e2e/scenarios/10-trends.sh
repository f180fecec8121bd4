# Scenario 10: growth named per container (issue 7). One burstable pod with
# two containers: "leaker" leaks anonymous memory, "agent" leaks negative
# dentries. memrelief must report a growth event for each container's cgroup
# with the right dominant component (anon, slab_reclaimable) and name both in
# `memrelief explain` of the pod, minutes after the leaks begin: the e2e
# policy's 5 s history buckets make minutes stand in for days.
#
# The kubelet's log layout (/var/log/pods, /var/log/containers) is written
# for the pod, so the daemon's offline pod index knows the pod (its
# containers get series only then) and names the containers "leaker" and
# "agent" as it would on a node; events are matched by scope all the same.
#
# Time: the worst-case budget of all scenarios is held to the 88-minute test
# timeout (harness_test.go), which leaves this one 4 minutes, not the 15 a
# slower leak would want. The estimator judges by the number of buckets, not
# wall clock (medium quality from 12 buckets = 1 min at 5 s): both growth
# events came 57 s after the leaks began when this was written.
# modes: unified
# timeout: 240
. "$SHARE/scenarios/lib.sh"
reinstall_if_purged
need_run

# How long to wait for both events after the loads start, and how often to
# look; journalctl and jq take a few seconds a round under TCG, and explain
# needs the rest of the timeout.
WAIT=210
POLL=15
# The leaks, which run until the scenario ends. A: 640 KiB a second (3 MiB
# per 5 s bucket), under 190 MiB by the timeout. B: 500 negative dentries a
# second, ~80 KB/s of slab_reclaimable (~160 B each, seen here), ~25 MB by
# the timeout: under the pods rule's 48M, so memrelief never reclaims it and
# the trend is a plain line rather than a sawtooth (whose floor the
# estimator follows anyway, but that is not what this scenario measures).
LEAK_SIZE=640K
LEAK_EVERY=1s
LEAK_MAX_MB=400
DENTRY_RATE=500

NS=e2e-trends
POD=leaky
UID_=10e2e010-0000-4000-8000-000000000010
POD_SLICE_ID=$(echo "$UID_" | tr - _)
SLICE=kubepods-burstable-pod$POD_SLICE_ID.slice
PODCG=$CG/$(pod_path "$POD_SLICE_ID")
# Container IDs are lowercase hex, as the pod index and cgroup parser want.
ID_A=$(printf 'a1e2e010%056d' 0)
ID_B=$(printf 'b2e2e010%056d' 0)
SCOPE_A=cri-containerd-$ID_A.scope
SCOPE_B=cri-containerd-$ID_B.scope
NAME_A=leaker
NAME_B=agent
PODLOG=/var/log/pods/${NS}_${POD}_$UID_

cleanup() {
	stop_load "$ID_A"
	stop_load "$ID_B"
	systemctl stop "$SLICE" 2>/dev/null
	stop_memrelief
	rm -rf "$PODLOG" "/var/log/containers/${POD}_${NS}_${NAME_A}-$ID_A.log" "/var/log/containers/${POD}_${NS}_${NAME_B}-$ID_B.log"
}
trap cleanup EXIT

# Skip while the daemon cannot read the policy's [history] table; any other
# check failure is start_memrelief's to report.
grep -q '^\[history\]' "$SHARE/scenarios/policy-e2e.toml" ||
	fail "policy-e2e.toml has no [history] table: the default 5 min buckets need hours, not minutes"
if ! memrelief check "$SHARE/scenarios/policy-e2e.toml" >/run/e2e/check10.out 2>&1; then
	grep -q 'history' /run/e2e/check10.out &&
		skip "memrelief does not read the policy's [history] table yet (issue 7: growth history): $(head -c 200 /run/e2e/check10.out)"
fi

# The kubelet writes /var/log/pods/<ns>_<pod>_<uid>/<container>/<n>.log and
# links /var/log/containers/<pod>_<ns>_<container>-<id>.log to it; the
# daemon's pod index reads both on every scan.
for c in "$NAME_A:$ID_A" "$NAME_B:$ID_B"; do
	name=${c%%:*}
	id=${c#*:}
	mkdir -p "$PODLOG/$name" /var/log/containers
	: >"$PODLOG/$name/0.log"
	ln -sfn "$PODLOG/$name/0.log" "/var/log/containers/${POD}_${NS}_$name-$id.log"
done

since=$(date +%s)
start_memrelief
sleep 3
systemctl is-active --quiet memrelief.service ||
	fail "memrelief.service is not running: $(journalctl -u memrelief.service -b --no-pager -q -n 5 | tr '\n' ' ')"

# scope_load ID ARGS... runs loadgen in a containerd-like scope of the pod.
# GOGC=10: at the default the Go heap of the dentry generator grows by its
# per-stat garbage to the 4 MB first collection, ~3 MB of anon in its first
# minute, as fast as the dentries it is there to leak; a tenth keeps that
# ramp under half a megabyte.
scope_load() {
	_id=$1
	shift
	GOGC=10 systemd-run --quiet --scope --unit="cri-containerd-$_id.scope" --slice="$SLICE" -p MemoryAccounting=yes \
		/usr/local/bin/loadgen "$@" >"/run/e2e/loadgen-$_id.out" 2>&1 &
}
secs=300
log "loads: $NAME_A leaks $LEAK_SIZE every $LEAK_EVERY, $NAME_B stats $DENTRY_RATE missing names a second"
load_start=$(date +%s)
scope_load "$ID_A" leak -size "$LEAK_SIZE" -every "$LEAK_EVERY" -max "$LEAK_MAX_MB" -duration "${secs}s" -hold
scope_load "$ID_B" dentries -dir /var/tmp/neg-trends -rate "$DENTRY_RATE" -duration "${secs}s" -hold

# stat_of CGROUPDIR FIELD prints a memory.stat field in bytes.
stat_of() { sed -n "s/^$2 //p" "$1/memory.stat" 2>/dev/null; }
current_of() { cat "$1/memory.current" 2>/dev/null; }

# first_growth SCOPE COMPONENT prints the first growth record of the scope's
# cgroup naming COMPONENT, tab-separated: time (µs), GROWTH_BYTES_PER_SEC,
# CONTAINER_NAME, POD_NAMESPACE/POD_NAME, GROWTH_QUALITY, GROWTH_REASON,
# MEMRELIEF_EVENT.
first_growth() {
	jq -r --arg s "/$1" --arg c "$2" '
		select(.GROWTH_COMPONENT == $c and ((.CGROUP // "") | endswith($s)))
		| [.__REALTIME_TIMESTAMP, (.GROWTH_BYTES_PER_SEC // "-"), (.CONTAINER_NAME // "-"),
		   ((.POD_NAMESPACE // "-") + "/" + (.POD_NAME // "-")), (.GROWTH_QUALITY // "-"),
		   (.GROWTH_REASON // "-"), (.MEMRELIEF_EVENT // "-")] | @tsv' /run/e2e/s10-growth.json | head -n 1
}
# growth_dump prints every growth record seen, one compact line each.
growth_dump() {
	jq -c '{CGROUP, CONTAINER_NAME, GROWTH_COMPONENT, GROWTH_REASON, GROWTH_BYTES_PER_SEC, GROWTH_QUALITY}' /run/e2e/s10-growth.json 2>/dev/null
}
field() { printf '%s\n' "$1" | cut -f "$2"; }

# or0 prints its argument, or 0 when it is empty (a cgroup not there yet).
or0() { echo "${1:-0}"; }

a=
b=
a0=
while :; do
	now=$(date +%s)
	ca=$(current_of "$PODCG/$SCOPE_A")
	cb=$(current_of "$PODCG/$SCOPE_B")
	# The first sample, a few seconds in, is the base of the measured rates:
	# the process start-up is not part of the leak.
	if [ -z "$a0" ] && [ -n "$ca" ] && [ -n "$cb" ]; then
		a0=$ca b0=$cb t0=$now
	fi
	journal_since "$since" >/run/e2e/s10.json
	jq -c 'select(.GROWTH_COMPONENT != null)' /run/e2e/s10.json >/run/e2e/s10-growth.json 2>/dev/null
	a=$(first_growth "$SCOPE_A" anon)
	b=$(first_growth "$SCOPE_B" slab_reclaimable)
	log "+$((now - load_start))s: $NAME_A current $(mb "$(or0 "$ca")") MB anon $(mb "$(or0 "$(stat_of "$PODCG/$SCOPE_A" anon)")") MB;" \
		"$NAME_B current $(mb "$(or0 "$cb")") MB slab_reclaimable $(mb "$(or0 "$(slab_of "$PODCG/$SCOPE_B")")") MB;" \
		"pod slab_reclaimable $(mb "$(or0 "$(slab_of "$PODCG")")") MB; growth records $(wc -l </run/e2e/s10-growth.json)"
	[ -n "$a" ] && [ -n "$b" ] && break
	[ "$now" -ge $((load_start + WAIT)) ] && break
	sleep "$POLL"
done
growth_dump >/run/e2e/s10-growth.txt
echo "growth records:"
cat /run/e2e/s10-growth.txt
figure growth_records "$(wc -l </run/e2e/s10-growth.txt)"
figure pod_slab_bytes "$(slab_of "$PODCG")"
reclaims=$(jq -r "select(.ACTION == \"reclaim\" and (.UNIT // \"\" | test(\"$POD_SLICE_ID\")))" /run/e2e/s10.json | jq -s length)
figure pod_reclaims "$reclaims"

# Rates measured here from memory.current, to hold the reported ones against.
now=$(date +%s)
ca=$(current_of "$PODCG/$SCOPE_A")
cb=$(current_of "$PODCG/$SCOPE_B")
if [ -n "$t0" ] && [ "$now" -gt "$t0" ]; then
	ra=$(((${ca:-0} - a0) / (now - t0)))
	rb=$(((${cb:-0} - b0) / (now - t0)))
else
	ra=0 rb=0
fi
figure leaker_measured_bytes_per_sec "$ra"
figure agent_measured_bytes_per_sec "$rb"

if [ -z "$a" ] || [ -z "$b" ]; then
	seen_a="not seen"
	seen_b="not seen"
	[ -n "$a" ] && seen_a="seen after $(($(field "$a" 1) / 1000000 - load_start))s"
	[ -n "$b" ] && seen_b="seen after $(($(field "$b" 1) / 1000000 - load_start))s"
	fail "after $((now - load_start))s: growth with GROWTH_COMPONENT=anon for $NAME_A ($SCOPE_A) $seen_a;" \
		"GROWTH_COMPONENT=slab_reclaimable for $NAME_B ($SCOPE_B) $seen_b;" \
		"$(wc -l </run/e2e/s10-growth.txt) growth records: $(head -c 1500 /run/e2e/s10-growth.txt)"
fi

# report NAME RECORD: figures of one container's first growth event.
report() {
	figure "$1_seconds" "$(($(field "$2" 1) / 1000000 - load_start))"
	figure "$1_bytes_per_sec" "$(field "$2" 2)"
	figure "$1_container_name" "$(field "$2" 3)"
	figure "$1_pod" "$(field "$2" 4)"
	figure "$1_quality" "$(field "$2" 5)"
	figure "$1_reason" "$(field "$2" 6)"
	figure "$1_event" "$(field "$2" 7)"
}
report leaker "$a"
report agent "$b"

# The reported trend of memory.current must be the leak's, within a factor
# of 3 of what memory.current did here: a rate off by more is a wrong
# estimate, not noise.
near() { [ "$1" -gt 0 ] 2>/dev/null && [ "$2" -gt 0 ] && [ $(($1 * 3)) -ge "$2" ] && [ $(($2 * 3)) -ge "$1" ]; }
near "$(field "$a" 2)" "$ra" ||
	fail "$NAME_A's growth event reports $(field "$a" 2) B/s, memory.current grew $ra B/s"
near "$(field "$b" 2)" "$rb" ||
	fail "$NAME_B's growth event reports $(field "$b" 2) B/s, memory.current grew $rb B/s"

# The pod index names the containers as the kubelet does.
if [ "$(field "$a" 3)" != "$NAME_A" ] || [ "$(field "$b" 3)" != "$NAME_B" ]; then
	fail "growth events name the containers '$(field "$a" 3)' and '$(field "$b" 3)', not '$NAME_A' and '$NAME_B' from /var/log/pods"
fi
if [ "$(field "$a" 4)" != "$NS/$POD" ] || [ "$(field "$b" 4)" != "$NS/$POD" ]; then
	fail "growth events name the pod '$(field "$a" 4)' and '$(field "$b" 4)', not '$NS/$POD'"
fi

# explain of the pod names each container with its own growing component,
# one line each: "container leaker: anon grows 2.2 GiB/h (98% of growth)
# since ...". The kubelet name is expected; the scope is accepted too, so a
# naming failure is reported by the check above rather than here.
explained() {
	grep -E "container ($NAME_A|$SCOPE_A): anon grows" /run/e2e/s10-explain.out >/run/e2e/s10-explain-a.out
	grep -E "container ($NAME_B|$SCOPE_B): slab_reclaimable grows" /run/e2e/s10-explain.out >/run/e2e/s10-explain-b.out
	[ -s /run/e2e/s10-explain-a.out ] && [ -s /run/e2e/s10-explain-b.out ]
}
ok=
for try in 1 2 3; do
	memrelief explain "$SLICE" >/run/e2e/s10-explain.out 2>&1
	if explained; then
		ok=1
		break
	fi
	[ "$try" -lt 3 ] && sleep 5
done
echo "memrelief explain $SLICE:"
cat /run/e2e/s10-explain.out
figure explain_leaker "$(head -n 1 /run/e2e/s10-explain-a.out)"
figure explain_agent "$(head -n 1 /run/e2e/s10-explain-b.out)"
[ -n "$ok" ] ||
	fail "memrelief explain $SLICE has no lines 'container $NAME_A: anon grows' and 'container $NAME_B: slab_reclaimable grows'; its trend lines: $(grep -E 'grows|^Trend|container ' /run/e2e/s10-explain.out | head -c 1500)"

pass "$NAME_A named with anon after $(($(field "$a" 1) / 1000000 - load_start))s at $(field "$a" 2) B/s" \
	"(measured $ra B/s), $NAME_B with slab_reclaimable after $(($(field "$b" 1) / 1000000 - load_start))s at $(field "$b" 2) B/s" \
	"(measured $rb B/s); explain names both"
