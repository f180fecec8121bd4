# Scenario 6: a broken policy on reload is rejected with file:line in the
# journal and the daemon keeps running on the old one; an [X-MemRelief]
# drop-in that excludes a unit is honoured.
# modes: unified
# timeout: 120
. "$SHARE/scenarios/lib.sh"
need_run
need_service
need_check
P=/etc/memrelief/policy.toml
mkdir -p /etc/memrelief
[ -f $P ] && cp $P /run/e2e/policy.saved
restore() {
	if [ -f /run/e2e/policy.saved ]; then cp /run/e2e/policy.saved $P; else rm -f $P; fi
	rm -rf /etc/systemd/system/e2e-excluded.service.d
	systemctl kill --signal=SIGKILL e2e-excluded.service 2>/dev/null
	systemctl daemon-reload
	stop_memrelief
}
trap restore EXIT
start_memrelief
pid=$(systemctl show -P MainPID memrelief.service)
since=$(date +%s)
printf '# broken on purpose\n[rule\nname = \n' >$P
systemctl reload memrelief.service
sleep 3
systemctl is-active -q memrelief.service || fail "memrelief died on a broken policy"
[ "$(systemctl show -P MainPID memrelief.service)" = "$pid" ] || fail "memrelief restarted on a broken policy"
journal_since "$since" | jq -r '.MESSAGE' >/run/e2e/s6.txt
grep -q "policy.toml:[0-9]" /run/e2e/s6.txt || fail "no policy.toml:LINE in the journal after a broken reload: $(tail -n 3 /run/e2e/s6.txt)"
figure reload_error "$(grep -m1 'policy.toml:[0-9]' /run/e2e/s6.txt)"

restore
trap restore EXIT
start_memrelief
mkdir -p /etc/systemd/system/e2e-excluded.service.d
printf '[X-MemRelief]\nExclude=yes\n' >/etc/systemd/system/e2e-excluded.service.d/50-memrelief.conf
systemctl daemon-reload
systemctl reload memrelief.service
since=$(date +%s)
systemd-run --quiet --unit=e2e-excluded.service -p MemoryAccounting=yes \
	/usr/local/bin/loadgen dentries -dir /var/tmp/neg-s6 -rate 20000 -duration 45s -hold
peak=$(peak_while "$CG/system.slice/e2e-excluded.service" 50)
figure excluded_peak_bytes "$peak"
acts=$(journal_since "$since" | jq -r 'select(.ACTION != null and .UNIT == "e2e-excluded.service") | .ACTION' | sort -u | tr '\n' ' ')
[ -z "$acts" ] || fail "excluded unit was acted on: $acts"
pass "broken policy rejected ($(grep -o '[^ ]*policy.toml:[0-9][0-9]*' /run/e2e/s6.txt | head -n 1)), daemon kept running; excluded unit left alone at $(mb "$peak") MB"
