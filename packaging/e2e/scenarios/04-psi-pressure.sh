# Scenario 4: PSI under the packaged default policy. stress-ng under a tight
# MemoryHigh in a service (with some dentries of its own) raises pressure;
# the kernel's trigger on its memory.pressure fires; memrelief decides for
# that service the moment it is woken and reclaims. The figure is
# TRIGGER_LATENCY_MS of the first reclaim: from the wake-up on the kernel's
# event to the start of the first memory.reclaim write. A reclaim without
# that field was not started by a trigger (polling, or triggers disabled):
# the scenario fails then.
# Without swap the kernel's own reclaim at memory.high empties the slab
# first, and the stall it then reports can find nothing left to free: the
# default skips ("nothing to reclaim"), which is right. Such a run measured
# no write; it is counted (kernel_first) and run again, up to 3 more times.
# E2E_PSI_RUNS sets the number of runs (median and worst are reported).
# modes: unified
# timeout: 150
. "$SHARE/scenarios/lib.sh"
UNIT=e2e-pressure.service
RUNS=${E2E_PSI_RUNS:-3}
P=/etc/memrelief/policy.toml
mkdir -p /etc/memrelief
[ -f $P ] && cp $P /run/e2e/policy.s4.saved
cleanup() {
	# Tasks throttled at memory.high sleep through SIGTERM for the whole stop timeout.
	systemctl kill --signal=SIGKILL $UNIT 2>/dev/null
	systemctl reset-failed $UNIT 2>/dev/null
	stop_memrelief
	if [ -f /run/e2e/policy.s4.saved ]; then cp /run/e2e/policy.s4.saved $P; else rm -f $P; fi
}
trap cleanup EXIT
run_stress() {
	systemd-run --quiet --unit=$UNIT -p MemoryAccounting=yes -p MemoryHigh=48M \
		stress-ng --vm 1 --vm-bytes 160M --vm-keep --timeout "$1s"
}

# The kernel half (trigger usable, fires) does not need memrelief.
run_stress 30
/usr/local/bin/loadgen psi-probe -file "$CG/system.slice/$UNIT/memory.pressure" -timeout 20s >/run/e2e/probe4.out 2>&1
figure psi_trigger "$(sed -n 's/^psi_event=//p' /run/e2e/probe4.out)"
grep -q '^psi_event=POLLPRI' /run/e2e/probe4.out || fail "PSI trigger did not fire under stress: $(cat /run/e2e/probe4.out)"
cleanup

need_run
need_service
cp "$SHARE/stage/etc/memrelief/policy.toml" $P # the packaged default, untouched
systemctl restart memrelief.service
sleep 3
lat=""
r=0
attempt=0
kernel_first=0
while [ "$r" -lt "$RUNS" ]; do
	attempt=$((attempt + 1))
	[ "$attempt" -le $((RUNS + 3)) ] || fail "only $r of $RUNS runs wrote memory.reclaim in $((attempt - 1)) attempts: in $kernel_first the kernel had emptied the slab before the stall (latencies:$lat)"
	since=$(date +%s)
	# dentries made all along (the slab memrelief frees under pressure; the
	# kernel takes some too), 32M of them before the workload that presses
	# against MemoryHigh starts: the kernel's own reclaim at MemoryHigh
	# empties a small slab before it reports a stall (8M was enough on
	# 2026-12-01, never on 12-02, the same build either day), and a stall
	# is counted while it reclaims a large one.
	systemd-run --quiet --unit=$UNIT -p MemoryAccounting=yes -p MemoryHigh=96M /bin/sh -c \
		"/usr/local/bin/loadgen dentries -dir /var/tmp/neg-s4-$attempt -rate 40000 -count 4000000 -hold &
		for _ in \$(seq 1 100); do [ \$(sed -n 's/^slab_reclaimable //p' $CG/system.slice/$UNIT/memory.stat) -ge 33554432 ] && break; sleep 0.25; done
		exec stress-ng --vm 1 --vm-bytes 160M --vm-keep --timeout 25s"
	got=""
	for _ in $(seq 1 40); do
		sleep 1
		journal_since "$since" | jq -c "select(.ACTION == \"reclaim\" and .UNIT == \"$UNIT\" and .LEVEL == \"pressure\")" >/run/e2e/s4-$attempt.json
		got=$(jq -r 'select((.REQUESTED_BYTES // "0" | tonumber) > 0) | .TRIGGER_LATENCY_MS // "none"' /run/e2e/s4-$attempt.json | head -n 1)
		[ -n "$got" ] && break
		# Decided twice and found nothing to free both times: the kernel
		# was first. Decided, so the trigger path worked; measure again.
		[ "$(jq -r 'select(.RESULT == "skipped")' /run/e2e/s4-$attempt.json | jq -s length)" -ge 2 ] && break
	done
	systemctl kill --signal=SIGKILL $UNIT 2>/dev/null
	systemctl reset-failed $UNIT 2>/dev/null
	figure "attempt${attempt}_reclaims" "$(jq -r '"\(.RESULT) \(.TRIGGER_LATENCY_MS // "-") ms: \(.MESSAGE // "")"' /run/e2e/s4-$attempt.json | head -n 3 | tr '\n' ';')"
	if [ -z "$got" ] && [ -s /run/e2e/s4-$attempt.json ] && ! jq -e 'select(.RESULT != "skipped")' /run/e2e/s4-$attempt.json >/dev/null; then
		kernel_first=$((kernel_first + 1))
		log "attempt $attempt: decided at level pressure, nothing left to reclaim (the kernel was first); again"
		sleep 5
		continue
	fi
	[ -n "$got" ] || fail "attempt $attempt: no memory.reclaim write at level pressure for $UNIT within 40 s: $(journal_since "$since" | jq -r 'select(.UNIT == "'$UNIT'") | .MESSAGE' | head -n 5 | tr '\n' ' ')"
	[ "$got" != none ] || fail "attempt $attempt: the first memory.reclaim write at level pressure carries no TRIGGER_LATENCY_MS: it was not started by the kernel's trigger event ($(head -n 2 /run/e2e/s4-$attempt.json | tr '\n' ' '))"
	r=$((r + 1))
	log "run $r (attempt $attempt): trigger to first write $got ms"
	lat="$lat $got"
	sleep 5
done
figure kernel_first "$kernel_first"
sorted=$(echo "$lat" | tr ' ' '\n' | grep . | sort -n)
median=$(echo "$sorted" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
worst=$(echo "$sorted" | tail -n 1)
figure trigger_latency_ms "$(echo "$lat" | sed 's/^ //')"
figure trigger_latency_median_ms "$median"
figure trigger_latency_worst_ms "$worst"
awk "BEGIN{exit !($worst <= 1000)}" || fail "trigger to first write took $worst ms (runs:$lat); at most 1000 ms wanted"
pass "PSI trigger to first memory.reclaim write under the default policy: median $median ms, worst $worst ms over $RUNS runs"
