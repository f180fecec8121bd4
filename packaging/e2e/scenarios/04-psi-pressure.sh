# Scenario 4: stress-ng under a tight MemoryHigh in a service raises PSI; a
# PSI trigger fires on its memory.pressure; the time from the first pressure
# sample at the policy threshold to memrelief's first action on the unit is read from the journal.
# modes: unified
# timeout: 150
. "$SHARE/scenarios/lib.sh"
UNIT=e2e-pressure.service
cleanup() {
	# Tasks throttled at memory.high sleep through SIGTERM for the whole stop timeout.
	systemctl kill --signal=SIGKILL $UNIT 2>/dev/null
	systemctl reset-failed $UNIT 2>/dev/null
	stop_memrelief
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
since=$(date +%s)
start_memrelief
sleep 5
run_stress 60
first=""
for _ in $(seq 1 120); do
	avg=$(sed -n 's/^some avg10=\([0-9.]*\).*/\1/p' "$CG/system.slice/$UNIT/memory.pressure" 2>/dev/null)
	if [ -n "$avg" ] && awk "BEGIN{exit !($avg >= $PSI_THRESHOLD)}"; then first=$(date +%s%N); break; fi
	sleep 0.5
done
[ -n "$first" ] || fail "memory.pressure of $UNIT never reached the policy threshold $PSI_THRESHOLD%"
sleep 30
journal_since "$since" >/run/e2e/s4.json
act=$(jq -r 'select(.ACTION != null and (.UNIT // "" | test("e2e-pressure"))) | .__REALTIME_TIMESTAMP' /run/e2e/s4.json | head -n 1)
[ -n "$act" ] || fail "no memrelief action on $UNIT within 30 s of pressure"
# act is µs since the epoch (journal), first ns (date +%s%N).
ms=$(((act * 1000 - first) / 1000000))
figure pressure_to_action_ms "$ms"
pass "first action $ms ms after the first pressure sample at the policy threshold (some avg10 >= $PSI_THRESHOLD%)"
