# Scenario 8 (daemon part): on hybrid and legacy boots the daemon runs for a
# minute under dentry growth without error-level logs.
# modes: hybrid legacy
# timeout: 150
. "$SHARE/scenarios/lib.sh"
need_run
trap 'stop_load e2e-s8; stop_memrelief' EXIT
since=$(date +%s)
start_memrelief || fail "memrelief did not start on a $MODE host"
dentry_load 8001 e2e-s8 20000 60
sleep 60
systemctl is-active -q memrelief.service || fail "memrelief not running after a minute on $MODE: $(journalctl -u memrelief -n 5 --no-pager -q)"
errs=$(journalctl -u memrelief.service --since "@$since" -p err --no-pager -q 2>/dev/null)
[ -z "$errs" ] || fail "error-level logs on $MODE: $(echo "$errs" | head -n 3)"
n=$(journal_since "$since" | jq -s 'length')
figure journal_records "$n"
acts=$(journal_since "$since" | jq -r 'select(.ACTION != null) | .ACTION' | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')
figure actions "$acts"
pass "ran a minute on $MODE without errors; actions: ${acts:-none}"
