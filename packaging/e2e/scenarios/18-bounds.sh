# Scenario 18: what others on the host can make grow (issue 15), against the
# packaged service on the packaged default policy, untouched. Each bound
# gives its event and the daemon runs on: no restart (same MainPID), its
# cgroup's memory.peak below the unit's MemoryMax, no OOM kill. A unit
# drop-in (not the policy) turns the metrics socket on and sets
# LimitNOFILE=2048, so the PSI trigger budget (a quarter: 512) is reached.
# a) A local user (nobody) with a delegated cgroup makes 3,000 cgroups named
#    *.service: none is watched (a name chosen in a delegated subtree is no
#    unit of systemd's).
# b) 2,100 pod cgroups as the kubelet's cgroupfs driver makes them, each
#    matching the default's "pods" rule: daemon.max_cgroups (2,000) is
#    reached and the warning names some left out; the trigger budget is
#    spent, said once; the metrics page holds at most 2,000 cgroups.
# c) nobody opens 4,000 keep-alive connections to the metrics socket, one
#    request each: at most 32 stay open, the limit is said once, and a
#    scrape is answered once they are gone.
# d) A 300 MB file in place of a history file: set aside unread at start.
# e) A 10 MB policy file: a reload refuses it and the daemon runs on the
#    policy it had; `memrelief check` of it fails at once, naming the file.
# modes: unified
# timeout: 240
. "$SHARE/scenarios/lib.sh"
need_run
need_service
P=/etc/memrelief/policy.toml
DROP=/run/systemd/system/memrelief.service.d/e2e-bounds.conf
DELEG=e2e-deleg.service
SOCK=/run/memrelief/metrics.sock
HIST=/var/lib/memrelief/history
PODS=2100
mkdir -p /etc/memrelief
[ -f $P ] && cp $P /run/e2e/policy.s18.saved
cleanup() {
	kill "$CONNS" 2>/dev/null
	systemctl stop $DELEG 2>/dev/null
	systemctl reset-failed $DELEG 2>/dev/null
	stop_memrelief
	find "$CG/kubepods/burstable" -maxdepth 1 -name 'pode2e18-*' -type d -exec rmdir {} + 2>/dev/null
	rmdir "$CG/kubepods/burstable" "$CG/kubepods" 2>/dev/null
	rm -f $DROP "$HIST"/*.corrupt /run/e2e-s18-deleg.sh
	systemctl daemon-reload
	if [ -f /run/e2e/policy.s18.saved ]; then cp /run/e2e/policy.s18.saved $P; else rm -f $P; fi
}
CONNS=
trap cleanup EXIT

default_policy
mkdir -p "$(dirname $DROP)"
cat >$DROP <<EOF
[Service]
ExecStart=
ExecStart=/usr/bin/memrelief run --metrics-listen unix:$SOCK
LimitNOFILE=2048
EOF
systemctl daemon-reload
MAX=$(systemctl show -P MemoryMax memrelief.service)
case $MAX in '' | *[!0-9]*) fail "memrelief.service has no MemoryMax in bytes: '$MAX'" ;; esac
figure memory_max_bytes "$MAX"

# started EPOCH: memrelief.service was (re)started at EPOCH; MainPID and
# its cgroup are taken for alive.
started() {
	SINCE=$1
	PID0=$(systemctl show -P MainPID memrelief.service)
	MCG=$CG$(systemctl show -P ControlGroup memrelief.service)
	[ "$PID0" -gt 0 ] && [ -f "$MCG/memory.peak" ] || fail "memrelief.service did not start: $(systemctl status memrelief --no-pager -n 5 2>&1 | tail -n 5)"
}
# alive STEP: the daemon is the one started, active, its cgroup's peak below
# MemoryMax and no OOM kill in it; records STEP_peak_bytes.
alive() {
	_pid=$(systemctl show -P MainPID memrelief.service)
	[ "$_pid" = "$PID0" ] || fail "$1: memrelief.service's MainPID went from $PID0 to $_pid (NRestarts $(systemctl show -P NRestarts memrelief.service)): $(journalctl -u memrelief -n 5 --no-pager -q)"
	systemctl -q is-active memrelief.service || fail "$1: memrelief.service is not active"
	_peak=$(cat "$MCG/memory.peak")
	figure "$1_peak_bytes" "$_peak"
	[ "$_peak" -lt "$MAX" ] || fail "$1: memory.peak $_peak reached MemoryMax $MAX"
	_oom=$(awk '$1 == "oom_kill" {print $2}' "$MCG/memory.events")
	[ "${_oom:-0}" -eq 0 ] || fail "$1: $_oom OOM kills in memrelief.service"
}
# event TEXT SECONDS: waits for a journal message of memrelief.service since
# SINCE holding TEXT, and prints the first.
event() {
	_i=0
	while [ "$_i" -lt "$2" ]; do
		_m=$(journal_since "$SINCE" | jq -r '.MESSAGE | strings' | grep -F -m1 -- "$1") && {
			echo "$_m"
			return 0
		}
		sleep 1
		_i=$((_i + 1))
	done
	return 1
}
count_events() { journal_since "$SINCE" | jq -r '.MESSAGE | strings' | grep -cF -- "$1"; }
scrape() { loadgen scrape -file $SOCK >/run/e2e/s18-page 2>/run/e2e/s18-scrape.err; }

stop_memrelief
SINCE=$(date +%s)
systemctl start memrelief.service || fail "systemctl start memrelief failed: $(systemctl status memrelief --no-pager -n 5 2>&1 | tail -n 5)"
started "$SINCE"
sleep 5
before=$(watching)
figure watched_at_start "$before"
[ -n "$before" ] || fail "no 'watching N cgroups' in the status: $(systemctl show -P StatusText memrelief.service)"

# a) a delegated user's 3,000 *.service cgroups.
log "a) nobody makes 3,000 cgroups named *.service in its delegated cgroup"
# A file, not sh -c: systemd would expand $ and % in the command line.
cat >/run/e2e-s18-deleg.sh <<'EOF'
D=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)
mkdir "$D/leaf" && echo $$ >"$D/leaf/cgroup.procs" && echo +memory >"$D/cgroup.subtree_control" || exit 1
cd "$D" && seq -f 'x-%g.service' 0 2999 | xargs mkdir || exit 1
exec sleep infinity
EOF
chmod 0755 /run/e2e-s18-deleg.sh
systemd-run --quiet --unit=$DELEG -p User=nobody -p Delegate=yes /bin/sh /run/e2e-s18-deleg.sh
DCG=$CG$(systemctl show -P ControlGroup $DELEG)
made=0
for _ in $(seq 120); do
	made=$(find "$DCG" -mindepth 1 -maxdepth 1 -name 'x-*.service' | wc -l)
	[ "$made" -ge 3000 ] && break
	systemctl -q is-active $DELEG || fail "a) $DELEG ended: $(journalctl -u $DELEG -n 5 --no-pager -q)"
	sleep 1
done
[ "$made" -ge 3000 ] || fail "a) only $made cgroups made in $DCG"
[ -f "$DCG/x-0.service/memory.current" ] || fail "a) the user's cgroups have no memory controller"
# A delegated subtree is not watched for new cgroups (its owner makes and
# removes them at will), so its cgroups wait for the walk once a minute: a
# reload walks the tree now.
systemctl reload memrelief.service
event "policy reloaded from" 30 >/dev/null || fail "a) no reload of the policy"
sleep 5 # its ticks
after=$(watching)
figure watched_after_user_cgroups "$after"
scrape || fail "a) scrape: $(cat /run/e2e/s18-scrape.err)"
grep -q 'x-[0-9]*\.service' /run/e2e/s18-page && fail "a) a cgroup the user named is on the metrics page: $(grep -m1 'x-[0-9]*\.service' /run/e2e/s18-page)"
# The delegating unit itself is a service: one more, not 3,000.
[ "$after" -le $((before + 2)) ] || fail "a) watching $after cgroups after the user made 3,000 (was $before)"
alive user_cgroups

# b) 2,100 pods of the cgroupfs driver.
log "b) $PODS pod cgroups as the kubelet's cgroupfs driver makes them"
mkdir -p "$CG/kubepods/burstable"
echo +memory >"$CG/kubepods/cgroup.subtree_control"
echo +memory >"$CG/kubepods/burstable/cgroup.subtree_control"
(cd "$CG/kubepods/burstable" && seq -f "pode2e18-%g" 0 $((PODS - 1)) | xargs mkdir) || fail "b) could not make the pod cgroups"
m=$(event "watching the limit of 2000 cgroups (daemon.max_cgroups)" 90) || fail "b) no max_cgroups warning; status: $(systemctl show -P StatusText memrelief.service)"
figure max_cgroups_event "$m"
m=$(event "PSI triggers: the budget of 512 open at once is spent" 60) || fail "b) no trigger budget warning; status: $(systemctl show -P StatusText memrelief.service)"
figure trigger_budget_event "$m"
sleep 10
n=$(watching)
figure watched_with_pods "$n"
[ "$n" -le 2000 ] || fail "b) watching $n cgroups, past max_cgroups 2000"
[ "$(count_events 'PSI triggers: the budget of')" -eq 1 ] || fail "b) the trigger budget was said $(count_events 'PSI triggers: the budget of') times"
[ "$(count_events 'the kernel refused PSI triggers')" -eq 0 ] || fail "b) the kernel refused triggers: $(event 'the kernel refused PSI triggers' 1)"
scrape || fail "b) scrape: $(cat /run/e2e/s18-scrape.err)"
figure page_bytes "$(wc -c </run/e2e/s18-page)"
# The node is always on the page, past the bound.
on_page=$(grep '^memrelief_cgroup_memory_current_bytes{' /run/e2e/s18-page | grep -vc 'cgroup="/"')
figure page_cgroups "$on_page"
[ "$on_page" -le 2000 ] || fail "b) $on_page cgroups on the metrics page, past its bound of 2000"
alive pods

# c) 4,000 idle connections from nobody.
log "c) nobody opens 4,000 keep-alive connections to $SOCK"
setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/local/bin/loadgen conns -file $SOCK -count 4000 -timeout 10s -hold >/run/e2e/s18-conns.out 2>&1 &
CONNS=$!
for _ in $(seq 120); do
	grep -q '^dialed=' /run/e2e/s18-conns.out && break
	kill -0 $CONNS 2>/dev/null || fail "c) loadgen conns ended: $(cat /run/e2e/s18-conns.out)"
	sleep 1
done
c=$(grep '^dialed=' /run/e2e/s18-conns.out) || fail "c) loadgen conns said nothing in 120 s"
figure conns "$c"
open=$(echo "$c" | sed -n 's/.*open=\([0-9]*\).*/\1/p')
# Each asked for / once: the first are answered and kept (keep-alive, idle
# for up to 2 minutes), at most 32 of them.
[ "$open" -ge 1 ] && [ "$open" -le 32 ] || fail "c) $open keep-alive connections kept open, want 1 to 32: $c"
m=$(event "metrics listener reached its limit of 32 open connections" 30) || fail "c) no connection limit event"
figure conn_limit_event "$m"
alive conns
kill $CONNS
wait $CONNS 2>/dev/null
CONNS=
sleep 2
scrape || fail "c) no scrape answered after the connections closed: $(cat /run/e2e/s18-scrape.err)"
[ "$(count_events 'metrics listener reached its limit')" -eq 1 ] || fail "c) the connection limit was said $(count_events 'metrics listener reached its limit') times"

# d) a 300 MB history file.
log "d) a 300 MB file in place of a history file"
stop_memrelief
# journald's (a service, so watched again at start however many pods
# wait), named as the store names it: the stop may not have had time to
# save it among 2,000 series.
f=$HIST/systemd-journald.service-$(printf '%s' /system.slice/systemd-journald.service | sha256sum | cut -c1-24).hist
mkdir -p $HIST
truncate -s 300M "$f"
SINCE=$(date +%s)
systemctl start memrelief.service || fail "d) systemctl start memrelief failed: $(systemctl status memrelief --no-pager -n 5 2>&1 | tail -n 5)"
started "$SINCE"
m=$(event "larger than a history file can be" 90) || fail "d) no event for the 300 MB history file $f"
figure history_event "$m"
[ -f "$f.corrupt" ] || fail "d) $f was not set aside as $f.corrupt"
sleep 10
alive history_file

# e) a 10 MB policy.
log "e) a 10 MB policy file, reloaded"
cp $P /run/e2e/s18-policy.ok
awk 'BEGIN { for (i = 0; i < 500000; i++) printf "unknown_key_%d = 1\n", i }' >$P
figure policy_bytes "$(wc -c <$P)"
SINCE=$(date +%s)
systemctl reload memrelief.service
m=$(event "bytes (256 KiB) memrelief reads from a policy" 60) || fail "e) no rejection of the 10 MB policy: $(journal_since "$SINCE" | jq -r '.MESSAGE | strings' | tail -n 5)"
figure reload_event "$m"
case $m in *"$P: "*" bytes, more than"*) ;; *) fail "e) the rejection does not name $P and its size: $m" ;; esac
# STATUS= follows the event by up to a tick.
for _ in $(seq 10); do
	st=$(systemctl show -P StatusText memrelief.service)
	case $st in *"last reload rejected, running on the previous policy"*) break ;; esac
	sleep 1
done
figure status_after_reload "$st"
case $st in *"last reload rejected, running on the previous policy"*) ;; *) fail "e) status does not say the reload was rejected: $st" ;; esac
t0=$(date +%s%N)
timeout -s INT 30 memrelief check $P >/run/e2e/s18-check.out 2>&1
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
figure check_ms "$ms"
figure check_output "$(head -c 300 /run/e2e/s18-check.out)"
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "e) memrelief check of the 10 MB policy: exit $rc after $ms ms"
grep -qF "$P" /run/e2e/s18-check.out || fail "e) memrelief check does not name $P: $(head -c 300 /run/e2e/s18-check.out)"
cp /run/e2e/s18-policy.ok $P
alive policy
pass "user cgroups not watched ($before -> $after); $n cgroups watched with $PODS pods; $open of 4000 connections kept; 300 MB history set aside; 10 MB policy refused in $ms ms by check; peak under $MAX bytes throughout"
