# Scenario 7: D-Bus: a level change signal is seen by busctl monitor,
# GetStatus answers, an unprivileged caller is refused a changing method.
# modes: unified
# timeout: 60
. "$SHARE/scenarios/lib.sh"
need_run
need_service
trap 'stop_load e2e-s7; [ -n "${mon:-}" ] && kill "$mon" 2>/dev/null; stop_memrelief' EXIT
start_memrelief
sleep 3
name=$(busctl list --no-legend 2>/dev/null | awk 'tolower($1) ~ /memrelief/ {print $1; exit}')
[ -n "$name" ] || skip "memrelief owns no name on the system bus (issue 5: D-Bus API)"
figure bus_name "$name"
path=$(busctl tree --list "$name" 2>/dev/null | grep -i memrelief | tail -n 1)
[ -n "$path" ] || fail "no object path under $name"
figure object_path "$path"
iface=$(busctl introspect --list "$name" "$path" 2>/dev/null | awk '$2 == "interface" && tolower($1) ~ /memrelief/ {print $1; exit}')
busctl monitor --match "type='signal',sender='$name'" >/run/e2e/s7.monitor 2>&1 &
mon=$!
dentry_load 7001 e2e-s7 20000 60
for _ in $(seq 1 90); do grep -q LevelChanged /run/e2e/s7.monitor && break; sleep 1; done
grep -q LevelChanged /run/e2e/s7.monitor || { cat /run/e2e/s7.monitor; fail "no LevelChanged signal from $name within 90 s of dentry growth (monitor output in the scenario log)"; }
busctl call "$name" "$path" "$iface" GetStatus >/run/e2e/s7.status 2>&1 || fail "GetStatus failed: $(cat /run/e2e/s7.status)"
figure getstatus_bytes "$(wc -c </run/e2e/s7.status)"
if setpriv --reuid=nobody --regid=nogroup --clear-groups busctl call "$name" "$path" "$iface" Reload >/run/e2e/s7.denied 2>&1; then
	fail "an unprivileged caller was allowed to call Reload"
fi
grep -qi 'denied\|not allowed\|access' /run/e2e/s7.denied || fail "unprivileged Reload failed for another reason: $(cat /run/e2e/s7.denied)"
pass "LevelChanged seen, GetStatus answered, unprivileged Reload refused"
