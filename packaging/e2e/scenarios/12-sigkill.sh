# Scenario 12: the packaged service, under a load that makes it raise
# vm.vfs_cache_pressure and set MemoryHigh on a unit, survives 50 SIGKILLs
# at random moments (systemd restarts it each time). After the load ends and
# the service stops, vfs_cache_pressure is the original and no memrelief
# drop-in is left under /run/systemd/system.control.
# modes: unified
# timeout: 480
. "$SHARE/scenarios/lib.sh"
need_run
need_service
P=/etc/memrelief/policy.toml
U=e2e-kill.service
KILLS=${KILLS:-50}
ORIG=$(sysctl -n vm.vfs_cache_pressure)
figure original_vfs "$ORIG"
mkdir -p /etc/memrelief
[ -f $P ] && cp $P /run/e2e/policy.s12.saved
cleanup() {
	systemctl stop $U 2>/dev/null
	rm -f /run/systemd/system/$U
	systemctl daemon-reload
	stop_memrelief
	if [ -f /run/e2e/policy.s12.saved ]; then cp /run/e2e/policy.s12.saved $P; else rm -f $P; fi
	sysctl -qw vm.vfs_cache_pressure="$ORIG"
}
trap cleanup EXIT
cat >$P <<EOF
exclude_units = ["memrelief.service", "-.slice", "init.scope", "e2e-runner.service"]
[daemon]
interval = "1s"
state_dir = "/run/memrelief"
sinks = ["journal"]
[history]
enabled = false

[[rule]]
name = "kill"
units = ["$U"]

[[rule.level]]
name = "elevated"
enter.all = ["slab_reclaimable >= 16M"]
exit.any = ["slab_reclaimable < 8M"]
dwell = "0s"
cooldown = "2s"

[[rule.level.action]]
type = "vfs_cache_pressure"
target = 300
step = 50

[[rule.level.action]]
type = "unit_property"
property = "MemoryHigh"
value = "900M"
EOF
memrelief check $P >/run/e2e/s12.check 2>&1 || fail "scenario policy invalid: $(cat /run/e2e/s12.check)"
# A unit with a file (not transient): its runtime drop-ins go under
# /run/systemd/system.control and outlive the unit's stop, so the check at
# the end means something.
cat >/run/systemd/system/$U <<EOF2
[Service]
MemoryAccounting=yes
ExecStart=/usr/local/bin/loadgen dentries -dir /var/tmp/neg-s12 -rate 20000 -count 300000 -hold
EOF2
systemctl daemon-reload
systemctl start $U
for _ in $(seq 1 120); do
	s=$(slab_of "$CG/system.slice/$U")
	[ -n "$s" ] && [ "$s" -ge $((24 * 1048576)) ] && break
	sleep 1
done
systemctl restart memrelief.service
for _ in $(seq 1 30); do
	[ "$(systemctl show -P MemoryHigh $U)" = 943718400 ] && [ "$(sysctl -n vm.vfs_cache_pressure)" != "$ORIG" ] && break
	sleep 1
done
[ "$(systemctl show -P MemoryHigh $U)" = 943718400 ] || fail "MemoryHigh not set before the kills"
# The dentries stay charged (-hold) while the generator idles: the guest's
# two emulated CPUs go to memrelief's restarts, ~10 s each under TCG.
# random tenths of a second, 0-2.9 s
rnd() { echo "$(($(od -An -N1 -tu1 /dev/urandom) % 30))" | sed 's/^\(.*\)\(.\)$/\1.\2/; s/^\./0./'; }
kills=0
limits=0
seen_vfs=""
while [ "$kills" -lt "$KILLS" ]; do
	for _ in $(seq 1 40); do
		systemctl is-active -q memrelief.service && break
		if systemctl is-failed -q memrelief.service; then
			# Start rate limit (5 in 10 s): systemd gives up; an operator
			# would start it again.
			limits=$((limits + 1))
			systemctl reset-failed memrelief.service
			systemctl start memrelief.service
		fi
		sleep 0.5
	done
	systemctl is-active -q memrelief.service || fail "memrelief not running again after $kills kills: $(journalctl -u memrelief -n 5 --no-pager | tr '\n' ' ')"
	sleep "$(rnd)"
	seen_vfs="$seen_vfs $(sysctl -n vm.vfs_cache_pressure)"
	systemctl kill --signal=SIGKILL memrelief.service
	kills=$((kills + 1))
done
figure kills "$kills"
figure start_limit_hits "$limits"
figure vfs_values_seen "$(echo "$seen_vfs" | tr ' ' '\n' | sort -n | uniq -c | tr '\n' ' ')"
for _ in $(seq 1 40); do
	systemctl is-active -q memrelief.service && break
	systemctl is-failed -q memrelief.service && { systemctl reset-failed memrelief.service; systemctl start memrelief.service; }
	sleep 0.5
done
systemctl is-active -q memrelief.service || fail "memrelief not running after the kills"
# The load ends; the unit goes; memrelief puts everything back.
systemctl stop $U
sleep 5
systemctl stop memrelief.service
vfs=$(sysctl -n vm.vfs_cache_pressure)
figure final_vfs "$vfs"
[ "$vfs" = "$ORIG" ] || fail "vm.vfs_cache_pressure is $vfs after $kills SIGKILLs and a stop, original $ORIG"
left=$(ls -A /run/systemd/system.control/$U.d /run/systemd/transient/$U.d 2>/dev/null | grep '^50-Memory' || true)
[ -z "$left" ] || fail "drop-ins left: $left"
records=$(ls -A /run/memrelief 2>/dev/null | grep '^knob-' || true)
[ -z "$records" ] || fail "intent records left: $records"
pass "$kills SIGKILLs (start limit hit $limits times): vm.vfs_cache_pressure back to $ORIG, no drop-in, no intent record"
