# Scenario 2: negative-dentry growth in a burstable pod slice (systemd driver
# layout). Without memrelief the slice's slab_reclaimable grows freely; with
# it, it stays within SLAB_BOUND (lib.sh) of the policy threshold and the
# journal holds level changes and reclaims.
# modes: unified
# timeout: 270
. "$SHARE/scenarios/lib.sh"
need_run
RATE=${E2E_DENTRY_RATE:-20000}
SECS=${E2E_DENTRY_SECONDS:-75}
trap 'stop_load e2e-s2-without; stop_load e2e-s2-with; stop_memrelief' EXIT

stop_memrelief
log "without memrelief: $RATE stats/s for ${SECS}s"
dentry_load 2001 e2e-s2-without "$RATE" "$SECS"
sleep 2
without=$(peak_while "$CG/$(pod_path 2001)" "$SECS")
stop_load e2e-s2-without
figure peak_without_bytes "$without"
# The idle slice keeps its dentries charged: free them (the test, not
# memrelief) so the daemon starts with only the slice under test growing.
echo 1G >"$CG/$(pod_path 2001)/memory.reclaim" 2>/dev/null

since=$(date +%s)
start_memrelief
sleep 5
log "with memrelief"
dentry_load 2002 e2e-s2-with "$RATE" "$SECS"
sleep 2
with=$(peak_while "$CG/$(pod_path 2002)" "$SECS")
figure peak_with_bytes "$with"
journal_since "$since" >/run/e2e/s2.json
levels=$(jq -r 'select(.LEVEL != null and (.UNIT // "" | test("pod2002"))) | .LEVEL' /run/e2e/s2.json | sort -u | tr '\n' ' ')
reclaims=$(jq -r 'select(.ACTION == "reclaim" and (.UNIT // "" | test("pod2002")))' /run/e2e/s2.json | jq -s length)
freed=$(jq -r 'select(.ACTION == "reclaim" and (.UNIT // "" | test("pod2002"))) | .RECLAIMED_BYTES // 0' /run/e2e/s2.json | awk '{s += $1} END {print s + 0}')
figure levels "$levels"
figure reclaim_events "$reclaims"
figure reclaimed_bytes "$freed"
log "peaks: without $(mb "$without") MB, with $(mb "$with") MB"
[ "$without" -gt 0 ] || fail "the generator grew no slab in the pod slice (without memrelief)"
[ -n "$levels" ] || fail "no journal record with LEVEL for the pod slice"
[ "$reclaims" -gt 0 ] || fail "no reclaim events (ACTION=reclaim) for the pod slice in the journal"
[ "$without" -gt "$SLAB_BOUND" ] || fail "without memrelief the slab peaked at $(mb "$without") MB, not past the bound $(mb "$SLAB_BOUND") MB: the load is too light to show anything"
[ "$with" -le "$SLAB_BOUND" ] || fail "slab peak $(mb "$with") MB with memrelief, not near the policy threshold $(mb "$SLAB_THRESHOLD") MB (bound $(mb "$SLAB_BOUND") MB)"
pass "peak slab_reclaimable $(mb "$with") MB with memrelief, $(mb "$without") MB without; $reclaims reclaims freed $(mb "$freed") MB"
