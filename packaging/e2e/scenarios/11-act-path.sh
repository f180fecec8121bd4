# Scenario 11: the act path against the real systemd 252.
# a) graduated unit properties: MemoryHigh 900M at elevated, 500M plus
#    MemoryLow at high, back to 900M without MemoryLow, then the originals
#    and no runtime drop-in left (levels moved by reloading thresholds
#    around a held slab figure, so each step is deterministic); a clean
#    stop of memrelief at elevated puts MemoryHigh back before it exits;
# b) reload flips dry run both ways: dry_run = true puts MemoryHigh back and
#    sets nothing, false sets it again;
# c) a cgroup named like the system unit, created in the subtree a
#    Delegate=yes unit hands over, gets nothing set on the system unit;
# d) a 20 s hook does not delay READY, the watchdog (6 s here) is kept, and
#    the hook is killed at stop with the real elapsed time.
# modes: unified
# timeout: 170
. "$SHARE/scenarios/lib.sh"
need_run
need_service
P=/etc/memrelief/policy.toml
U=e2e-act.service
mkdir -p /etc/memrelief
[ -f $P ] && cp $P /run/e2e/policy.s11.saved
cleanup() {
	systemctl stop $U e2e-deleg.service 2>/dev/null
	rm -rf /run/systemd/system/memrelief.service.d/s11.conf
	systemctl daemon-reload
	stop_memrelief
	if [ -f /run/e2e/policy.s11.saved ]; then cp /run/e2e/policy.s11.saved $P; else rm -f $P; fi
}
trap cleanup EXIT

# policy DRY ENTER_ELEVATED EXIT_ELEVATED ENTER_HIGH EXIT_HIGH [HOOK]
policy() {
	cat >$P <<EOF
exclude_units = ["memrelief.service", "-.slice", "init.scope", "e2e-runner.service"]
[daemon]
interval = "1s"
state_dir = "/run/memrelief"
sinks = ["journal"]
dry_run = $1
[history]
enabled = false

[[rule]]
name = "act"
units = ["$U"]
# c): the cgroup named like $U in the Delegate=yes unit's subtree is watched
# through its path (by name it is not the system's unit, and not matched).
paths = ["system.slice/e2e-deleg.service/app.slice/*"]

[[rule.level]]
name = "elevated"
enter.all = ["slab_reclaimable >= $2"]
exit.any = ["slab_reclaimable < $3"]
dwell = "1s"
cooldown = "2s"

[[rule.level.action]]
type = "unit_property"
property = "MemoryHigh"
value = "900M"
$6

[[rule.level]]
name = "high"
enter.all = ["slab_reclaimable >= $4"]
exit.any = ["slab_reclaimable < $5"]
dwell = "1s"
cooldown = "2s"

[[rule.level.action]]
type = "unit_property"
property = "MemoryHigh"
value = "500M"

[[rule.level.action]]
type = "unit_property"
property = "MemoryLow"
value = "8M"
EOF
	memrelief check $P >/run/e2e/s11.check 2>&1 || fail "scenario policy invalid: $(cat /run/e2e/s11.check)"
}
reload() { systemctl reload memrelief.service; }
show() { systemctl show -P "$1" $U; }
# expect SECONDS HIGH LOW: wait until the unit's properties are those.
expect() {
	_i=0
	while [ "$_i" -lt "$1" ]; do
		[ "$(show MemoryHigh)" = "$2" ] && [ "$(show MemoryLow)" = "$3" ] && return 0
		sleep 1
		_i=$((_i + 1))
	done
	fail "$4: MemoryHigh=$(show MemoryHigh) MemoryLow=$(show MemoryLow), want $2 and $3; drop-ins: $(dropins)"
}
# systemd puts a transient unit's runtime drop-ins under /run/systemd/transient.
dropins() { ls -A /run/systemd/system.control/$U.d /run/systemd/transient/$U.d 2>/dev/null | grep '^50-Memory' | tr '\n' ' '; }

# a) graduated values, and put back by a clean stop.
policy false 16M 8M 100G 50G
systemd-run --quiet --unit=$U -p MemoryAccounting=yes \
	/usr/local/bin/loadgen dentries -dir /var/tmp/neg-s11 -rate 20000 -count 300000 -hold
for _ in $(seq 1 120); do
	s=$(slab_of "$CG/system.slice/$U")
	[ -n "$s" ] && [ "$s" -ge $((32 * 1048576)) ] && break
	sleep 1
done
figure slab_held_bytes "$(slab_of "$CG/system.slice/$U")"
[ "$(slab_of "$CG/system.slice/$U")" -ge $((24 * 1048576)) ] || fail "the generator made only $(slab_of "$CG/system.slice/$U") bytes of slab in 120 s"
systemctl restart memrelief.service
expect 20 943718400 0 "elevated"
# A clean stop puts the property back itself, over D-Bus, before it exits:
# not left for the next start's recovery.
systemctl stop memrelief.service
[ "$(show MemoryHigh)" = infinity ] || fail "MemoryHigh=$(show MemoryHigh) after memrelief stopped: its stop did not restore it ($(journalctl -u memrelief -n 3 --no-pager -o cat | tr '\n' ' '))"
[ -z "$(dropins)" ] || fail "drop-ins left after memrelief stopped: $(dropins)"
systemctl start memrelief.service
expect 20 943718400 0 "elevated after the restart"
policy false 16M 8M 20M 12M
reload
expect 20 524288000 8388608 "high"
[ -n "$(dropins)" ] || fail "no runtime drop-in while properties are set"
policy false 16M 8M 100G 50G
reload
expect 20 943718400 0 "back to elevated"
policy false 100G 50G 200G 100G
reload
expect 20 infinity 0 "normal"
[ -z "$(dropins)" ] || fail "runtime drop-ins left after the level cleared: $(dropins)"
log "a) graduated: ok"

# b) dry run flipped by reload, both ways.
policy false 16M 8M 100G 50G
reload
expect 20 943718400 0 "elevated again"
policy true 16M 8M 100G 50G
reload
expect 20 infinity 0 "after reload with dry_run = true"
sleep 4
[ "$(show MemoryHigh)" = infinity ] || fail "dry run set MemoryHigh=$(show MemoryHigh)"
[ -z "$(dropins)" ] || fail "dry run left drop-ins: $(dropins)"
policy false 16M 8M 100G 50G
reload
expect 20 943718400 0 "after reload with dry_run = false"
log "b) dry run flip: ok"
policy false 100G 50G 200G 100G
reload
expect 20 infinity 0 "normal before c"

# c) a user's cgroup named like the system unit. The real unit stays idle
#    (its slab far below the threshold); the user's is above it.
systemctl stop $U
systemd-run --quiet --unit=$U -p MemoryAccounting=yes /bin/sleep 300
# The subtree of a unit with Delegate=yes belongs to whoever runs in it (a
# container runtime, a user manager): that payload makes a cgroup named
# like the system unit and runs dentries in it.
systemd-run --quiet --unit=e2e-deleg.service -p Delegate=yes -p MemoryAccounting=yes /bin/sleep 600
sub="$CG/system.slice/e2e-deleg.service"
for _ in $(seq 1 20); do [ -d "$sub" ] && break; sleep 0.5; done
# Without systemd's marks on the cgroup (which the packaged unit may not be
# able to read), memrelief must learn of the delegation from systemd's
# Delegate property: removed before anything below the unit exists.
marks=$(/usr/local/bin/loadgen unmark -file "$sub") || fail "could not remove the delegation marks: $marks"
figure delegate_marks_systemd_set "$(echo "$marks" | tr '\n' ' ')"
left=$(/usr/local/bin/loadgen unmark -file "$sub" | grep -v '=absent$' | grep delegate=)
[ -z "$left" ] || fail "delegation marks still there: $left"
mkdir -p "$sub/payload"
echo "$(systemctl show -P MainPID e2e-deleg.service)" >"$sub/payload/cgroup.procs" || fail "could not move the delegate's process into a leaf"
echo +memory >"$sub/cgroup.subtree_control" || fail "could not enable memory in the delegated subtree"
mkdir -p "$sub/app.slice/$U"
echo +memory >"$sub/app.slice/cgroup.subtree_control" || fail "could not enable memory in app.slice"
figure delegated_cgroup "$sub/app.slice/$U"
/usr/local/bin/loadgen dentries -dir /var/tmp/neg-s11u -rate 20000 -count 300000 -hold >/run/e2e/s11u.out 2>&1 &
lp=$!
echo $lp >"$sub/app.slice/$U/cgroup.procs" || fail "could not move the load into the delegated cgroup"
policy false 16M 8M 100G 50G
since=$(date +%s)
reload
for _ in $(seq 1 120); do
	s=$(slab_of "$sub/app.slice/$U")
	[ -n "$s" ] && [ "$s" -ge $((32 * 1048576)) ] && break
	sleep 1
done
figure delegated_slab_bytes "$(slab_of "$sub/app.slice/$U")"
sleep 6
[ "$(show MemoryHigh)" = infinity ] || fail "the system's $U got MemoryHigh=$(show MemoryHigh) from a delegated cgroup of that name"
[ -z "$(dropins)" ] || fail "drop-ins on the system's $U: $(dropins)"
acts=$(journal_since "$since" | jq -r 'select(.ACTION == "unit_property") | .MESSAGE' | head -n 3)
[ -z "$acts" ] || fail "unit_property acted: $acts"
why=$(journal_since "$since" | jq -r 'select((.MESSAGE | type) == "string" and (.MESSAGE | contains("not possible"))) | .MESSAGE' | grep "app.slice/$U" | head -n 1)
figure delegated_refusal "$why"
case "$why" in
*"subtree e2e-deleg.service delegates"*) ;;
*) fail "the refusal does not name the Delegate=yes unit (its marks removed, systemd's Delegate property is what tells): $why" ;;
esac
kill $lp 2>/dev/null
wait $lp 2>/dev/null
systemctl stop e2e-deleg.service
log "c) delegated subtree: ok"

# d) a hook that sleeps 20 s, a 6 s watchdog.
mkdir -p /run/systemd/system/memrelief.service.d
printf '[Service]\nWatchdogSec=6s\n' >/run/systemd/system/memrelief.service.d/s11.conf
systemctl daemon-reload
systemctl stop $U
systemd-run --quiet --unit=$U -p MemoryAccounting=yes \
	/usr/local/bin/loadgen dentries -dir /var/tmp/neg-s11d -rate 20000 -count 300000 -hold
for _ in $(seq 1 120); do
	s=$(slab_of "$CG/system.slice/$U")
	[ -n "$s" ] && [ "$s" -ge $((32 * 1048576)) ] && break
	sleep 1
done
policy false 16M 8M 100G 50G '
[[rule.level.action]]
type = "exec"
command = ["/bin/sleep", "20"]
timeout = "60s"'
t0=$(date +%s)
systemctl restart memrelief.service
t1=$(date +%s)
figure ready_seconds $((t1 - t0))
[ $((t1 - t0)) -lt 15 ] || fail "READY took $((t1 - t0)) s with a 20 s hook"
pid=$(systemctl show -P MainPID memrelief.service)
n0=$(systemctl show -P NRestarts memrelief.service)
sleep 14
pgrep -f '^/bin/sleep 20$' >/dev/null || fail "the hook is not running"
[ "$(systemctl show -P MainPID memrelief.service)" = "$pid" ] && [ "$(systemctl show -P NRestarts memrelief.service)" = "$n0" ] ||
	fail "memrelief was restarted while the hook ran (watchdog 6 s): $(journalctl -u memrelief -n 5 --no-pager | tr '\n' ' ')"
since=$(date +%s)
systemctl stop memrelief.service
sleep 1
pgrep -f '^/bin/sleep 20$' >/dev/null && fail "the hook outlived memrelief's stop"
killed=$(journal_since "$t0" | jq -r 'select(.ACTION == "exec") | .MESSAGE' | tail -n 1)
figure hook_at_stop "$killed"
case "$killed" in *"memrelief is stopping"*) ;; *) fail "hook at stop: $killed" ;; esac
pass "graduated MemoryHigh 900M/500M+MemoryLow and back, dry run both ways, a delegated $U left alone, READY in $((t1 - t0)) s with a 20 s hook and the 6 s watchdog kept"
