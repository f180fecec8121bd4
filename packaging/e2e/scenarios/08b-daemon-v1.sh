# Scenario 8 (daemon part): on hybrid and legacy boots the daemon runs for a
# minute under dentry growth without error-level logs, and says what it is
# and is not: events call the per-cgroup figure kernel memory
# (KERNEL_MEMORY_BYTES, never SLAB_RECLAIMABLE_BYTES), the start-up line
# names the actions this host gets, and an unsupported reclaim is reported
# once per cgroup, not every cooldown.
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
journal_since "$since" >/run/e2e/s8b.json
started=$(jq -r 'select(.MESSAGE | test("memrelief started")) | .MESSAGE' /run/e2e/s8b.json | tail -n 1)
figure started "$started"
case "$started" in *"kernel memory"*"there is no memory.reclaim"*|*"there is no memory.reclaim"*"kernel memory"*) ;;
*) fail "the start-up line on $MODE does not say which actions this host gets: $started" ;; esac
slab=$(jq -r 'select(.SLAB_RECLAIMABLE_BYTES != null and .CGROUP != "/") | .MESSAGE' /run/e2e/s8b.json | head -n 1)
[ -z "$slab" ] || fail "an event on $MODE calls kernel memory slab_reclaimable: $slab"
kmem=$(jq -r 'select(.KERNEL_MEMORY_BYTES != null) | .KERNEL_MEMORY_BYTES' /run/e2e/s8b.json | head -n 1)
figure kernel_memory_bytes "${kmem:-none}"
unsup=$(jq -r 'select(.ACTION == "reclaim" and .RESULT == "unsupported") | .CGROUP' /run/e2e/s8b.json | sort | uniq -c | awk '$1 > 1')
[ -z "$unsup" ] || fail "unsupported reclaim reported more than once per cgroup on $MODE: $unsup"
pass "ran a minute on $MODE without errors; actions: ${acts:-none}"
