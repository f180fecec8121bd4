# Scenario 1 (detect part): on a unified v2 systemd host, detect says so.
# modes: unified
# timeout: 45
. "$SHARE/scenarios/lib.sh"
need_detect
mode=$(jq -r '.cgroup.mode' /run/e2e/detect.json)
pid1=$(jq -r '.systemd.pid1' /run/e2e/detect.json)
figure cgroup_mode "$mode"
figure systemd_pid1 "$pid1"
[ "$mode" = unified ] || fail "detect says cgroup mode $mode on a unified v2 boot"
[ "$pid1" = true ] || fail "detect says systemd is not PID 1 (.systemd.pid1=$pid1)"
pass "detect: cgroup unified, systemd PID 1"
