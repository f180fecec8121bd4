# Scenario 3: the same growth under a cgroupfs-driver layout made with mkdir
# (kubepods/burstable/pod<uid>), a process moved in by hand. memrelief must
# detect the cgroupfs driver and use stateless actions only (no unit
# properties, no runtime drop-ins: no unit owns these cgroups).
# modes: unified
# timeout: 100
. "$SHARE/scenarios/lib.sh"
need_detect
need_run
POD=$CG/kubepods/burstable/pod3003-0000-4000-8000-000000003003
POD2=$CG/kubepods/burstable/pod3003-0000-4000-8000-000000003004
cleanup() {
	[ -n "${lpid:-}" ] && kill -9 "$lpid" 2>/dev/null
	sleep 1
	stop_memrelief
	rmdir "$POD2" "$POD" "$CG/kubepods/burstable" "$CG/kubepods" 2>/dev/null
	true
}
trap cleanup EXIT
mkdir -p "$POD" || fail "mkdir $POD"
echo +memory >"$CG/kubepods/cgroup.subtree_control"
echo +memory >"$CG/kubepods/burstable/cgroup.subtree_control"

memrelief detect --json >/run/e2e/detect3.json 2>&1 || fail "detect failed with a cgroupfs tree present"
if jq -r '.. | strings' /run/e2e/detect3.json | grep -qi cgroupfs; then figure tree_driver cgroupfs; else
	fail "detect does not report the cgroupfs driver for $CG/kubepods"; fi

since=$(date +%s)
drop_ins_before=$(ls /run/systemd/system.control 2>/dev/null | wc -l)
start_memrelief
sleep 5
/usr/local/bin/loadgen dentries -dir /var/tmp/neg-s3 -rate 20000 -duration 45s -hold >/run/e2e/loadgen-s3.out 2>&1 &
lpid=$!
echo "$lpid" >"$POD/cgroup.procs" || fail "move $lpid into $POD"
peak=$(peak_while "$POD" 45)
figure peak_bytes "$peak"
journal_since "$since" >/run/e2e/s3.json
acts=$(jq -r 'select(.ACTION != null and (.CGROUP // "" | test("kubepods/burstable/pod3003"))) | .ACTION' /run/e2e/s3.json | sort -u | tr '\n' ' ')
figure actions "$acts"
drop_ins_after=$(ls /run/systemd/system.control 2>/dev/null | wc -l)
[ -n "$acts" ] || fail "no action on the cgroupfs pod in the journal (peak $(mb "$peak") MB)"
case " $acts " in *unit-property* | *unit_property*) fail "a unit property action on a cgroup no unit owns: $acts" ;; esac
[ "$drop_ins_after" -eq "$drop_ins_before" ] || fail "runtime drop-ins appeared under /run/systemd/system.control"
[ -e "$POD" ] || fail "memrelief removed $POD"
[ "$peak" -le "$SLAB_BOUND" ] || fail "slab of the cgroupfs pod not bounded: peak $(mb "$peak") MB, policy threshold $(mb "$SLAB_THRESHOLD") MB (bound $(mb "$SLAB_BOUND") MB)"

# A pod made while memrelief runs, which no systemd signal announces: the
# tree watcher (inotify on the cgroup directories) finds it at the next
# tick, where the walk the daemon makes in case comes once a minute. The
# count is the service's status, which only the packaged unit reports.
[ -f /usr/lib/systemd/system/memrelief.service ] || pass "cgroupfs pod remediated with: $acts; peak $(mb "$peak") MB (no packaged unit: discovery of a new pod not timed)"
journal_since "$since" | jq -r '.MESSAGE | strings' | grep -q "new cgroups found as they appear (inotify on" ||
	fail "the start message does not say the tree is watched: $(journal_since "$since" | jq -r '.MESSAGE | strings' | grep -m1 'memrelief started')"
n0=$(watching)
t0=$(date +%s%N)
mkdir "$POD2" || fail "mkdir $POD2"
found=""
i=0
while [ "$i" -lt 300 ]; do
	n=$(watching)
	if [ "${n:-0}" -gt "${n0:-0}" ]; then
		found=$((($(date +%s%N) - t0) / 1000000))
		break
	fi
	sleep 0.1
	i=$((i + 1))
done
[ -n "$found" ] || fail "a cgroupfs pod made while running is not watched after 30 s (watching ${n0:-?} before)"
figure new_pod_found_ms "$found"
[ "$found" -le 6000 ] || fail "a cgroupfs pod made while running was watched after $found ms: not through inotify (the walk in case is every minute)"
pass "cgroupfs pod remediated with: $acts; peak $(mb "$peak") MB; a new pod watched after $found ms"
