# Scenario 1 (service part): memrelief.service starts and is READY within
# seconds (Type=notify: systemctl start returns at READY=1).
# modes: unified
# timeout: 45
. "$SHARE/scenarios/lib.sh"
need_run
need_service
trap stop_memrelief EXIT
# The package starts the service at install: time a start from stopped.
stop_memrelief
mkdir -p /etc/memrelief && cp "$SHARE/scenarios/policy-e2e.toml" /etc/memrelief/policy.toml
t0=$(date +%s%N)
systemctl start memrelief.service || fail "systemctl start memrelief failed: $(systemctl status memrelief --no-pager -n 5 2>&1 | tail -n 5)"
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
figure ready_ms "$ms"
type=$(systemctl show -P Type memrelief.service)
status=$(systemctl show -P StatusText memrelief.service)
figure status_text "$status"
[ "$type" = notify ] || fail "memrelief.service is Type=$type, want notify"
systemctl is-active --quiet memrelief.service || fail "memrelief.service not active after start"
[ "$ms" -le 15000 ] || fail "READY took ${ms} ms (want <= 15000 under TCG)"
[ -n "$status" ] || fail "no STATUS= text"
pass "READY after ${ms} ms; status: $status"
