# Scenario 14: memrelief and systemd-oomd side by side in one boot
# (packaging/bench/vs-oomd.sh): CPU idle and per watched cgroup at the same
# 1 s interval, and RSS, with 300 transient services watched by both. A
# measurement for BENCHMARKS.md, run on request:
#   MEMRELIEF_E2E=1 MEMRELIEF_E2E_MODES=unified MEMRELIEF_E2E_SCENARIOS=14 go test -v -timeout 60m ./packaging/e2e/
# E2E_BENCH_RUNS (3), E2E_BENCH_CGROUPS (300) and E2E_BENCH_SECONDS (60)
# change it. It fails only when the measurement cannot be made.
# modes: unified
# timeout: 1800
# run: on request
. "$SHARE/scenarios/lib.sh"
need_run
need_service
# The packaged default, whatever the scenario before left in its place
# (vs-oomd.sh sets only the interval, and restores the file).
default_policy
RUNS=${E2E_BENCH_RUNS:-3}
r=0
while [ "$r" -lt "$RUNS" ]; do
	r=$((r + 1))
	sh "$SHARE/bench/vs-oomd.sh" "${E2E_BENCH_CGROUPS:-300}" "${E2E_BENCH_SECONDS:-60}" 1s >/run/e2e/vs-oomd-$r.out 2>&1 ||
		fail "run $r: $(tr '\n' ' ' </run/e2e/vs-oomd-$r.out)"
	cat /run/e2e/vs-oomd-$r.out
	figure "run$r" "$(tr '\n' ';' </run/e2e/vs-oomd-$r.out)"
done
pass "memrelief and systemd-oomd measured side by side, $RUNS runs (figures)"
