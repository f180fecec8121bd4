# Scenario 5: vm.vfs_cache_pressure is raised during dentry growth and put
# back after; after a SIGKILL the restarted service restores the original;
# an administrator's sysctl -w while memrelief manages it is respected.
# modes: unified
# timeout: 150
. "$SHARE/scenarios/lib.sh"
need_run
need_service
ORIG=$(sysctl -n vm.vfs_cache_pressure)
figure original "$ORIG"
trap 'stop_load e2e-s5a; stop_load e2e-s5b; stop_memrelief; sysctl -qw vm.vfs_cache_pressure=$ORIG' EXIT
wait_value() { # wait_value SECONDS TEST: until sysctl value satisfies TEST ("-ne X" ...)
	_i=0
	while [ "$_i" -lt "$1" ]; do
		_v=$(sysctl -n vm.vfs_cache_pressure)
		# shellcheck disable=SC2086
		[ "$_v" $2 ] && { echo "$_v"; return 0; }
		sleep 1
		_i=$((_i + 1))
	done
	echo "$_v"
	return 1
}
start_memrelief
dentry_load 5001 e2e-s5a 20000 90
raised=$(wait_value 60 "-ne $ORIG") || fail "vfs_cache_pressure not raised within 60 s of dentry growth (still $raised)"
figure raised "$raised"
n0=$(systemctl show -P NRestarts memrelief.service)
kill -9 "$(systemctl show -P MainPID memrelief.service)"
stop_load e2e-s5a
echo 512M >"$CG/$(pod_path 5001)/memory.reclaim" 2>/dev/null
for _ in $(seq 1 30); do
	[ "$(systemctl show -P NRestarts memrelief.service)" -gt "$n0" ] && systemctl is-active -q memrelief.service && break
	sleep 1
done
[ "$(systemctl show -P NRestarts memrelief.service)" -gt "$n0" ] || fail "memrelief not restarted by systemd after SIGKILL"
after=$(wait_value 60 "-eq $ORIG") || fail "after SIGKILL and restart vfs_cache_pressure is $after, original $ORIG"
figure after_restart "$after"

dentry_load 5002 e2e-s5b 20000 90
wait_value 60 "-ne $ORIG" >/dev/null || fail "vfs_cache_pressure not raised the second time"
sysctl -qw vm.vfs_cache_pressure=150
stop_load e2e-s5b
echo 512M >"$CG/$(pod_path 5002)/memory.reclaim" 2>/dev/null
sleep 45
admin=$(sysctl -n vm.vfs_cache_pressure)
figure after_admin "$admin"
[ "$admin" = 150 ] || fail "administrator set 150 while managed; memrelief changed it to $admin"
pass "raised to $raised, restored to $after after SIGKILL+restart, admin value 150 kept"
