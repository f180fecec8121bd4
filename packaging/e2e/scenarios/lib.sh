# Sourced by every scenario. Results are key=value lines in $RESULT:
# status (pass|fail|skip), message (one line), figure.NAME (one value each).
# pass/fail/skip end the scenario; the EXIT trap runs its cleanup.

: "${RESULT:?RESULT must name the result file}"
CG=/sys/fs/cgroup
# Settings a developer passes from the host (MEMRELIEF_E2E_GUEST_ENV), such
# as longer loads for a measurement run; CI passes none.
[ -f "$SHARE/env" ] && . "$SHARE/env"

put() { printf '%s=%s\n' "$1" "$(printf '%s' "$2" | tr '\n' ' ')" >>"$RESULT"; }
pass() { put status pass; put message "$*"; exit 0; }
fail() { put status fail; put message "$*"; exit 1; }
skip() { put status skip; put message "$*"; exit 0; }
figure() { put "figure.$1" "$2"; echo "figure $1=$2"; }
log() { echo "$(date +%T) $*"; }

# Feature gates: each skips the scenario with the missing feature and the
# issue that delivers it, so a skip says exactly what turns the scenario on.
has_command() { memrelief --help 2>&1 | grep -Eq "^[[:space:]]+$1[[:space:]]"; }
need_detect() {
	memrelief detect --json >/run/e2e/detect.json 2>/run/e2e/detect.err &&
		jq -e '.cgroup.mode | strings' /run/e2e/detect.json >/dev/null 2>&1 ||
		skip "memrelief detect --json with .cgroup.mode not available yet (issue 2: detect): $(head -c 200 /run/e2e/detect.err)"
}
need_run() { has_command run || skip "memrelief run not available yet (issue 4: engine/run)"; }
need_service() {
	[ -f /usr/lib/systemd/system/memrelief.service ] ||
		skip "memrelief.service not installed: systemd/memrelief.service absent (issue 5: service unit)"
}
need_check() { has_command check && memrelief check >/dev/null 2>&1 || skip "memrelief check of the default policy not working yet (issue 3: policy)"; }
need_deb() { ls "$SHARE"/artifacts/*.deb >/dev/null 2>&1 || skip "no .deb built: make package absent (issue 5: packages)"; }

# start_memrelief installs the scenarios' policy (small thresholds, short dwell)
# and runs the daemon as the service when the unit is installed, otherwise as
# a transient unit with the same name so journal queries match.
start_memrelief() {
	mkdir -p /etc/memrelief
	cp "$SHARE/scenarios/policy-e2e.toml" /etc/memrelief/policy.toml
	memrelief check /etc/memrelief/policy.toml >/run/e2e/check.out 2>&1 ||
		fail "the e2e policy does not validate: $(cat /run/e2e/check.out)"
	# restart, not start: the package starts the service at install, and a
	# running daemon would keep the policy it started with.
	if [ -f /usr/lib/systemd/system/memrelief.service ]; then
		systemctl restart memrelief.service
	else
		stop_memrelief
		systemd-run --quiet --unit=memrelief.service -p MemoryAccounting=yes /usr/bin/memrelief run "$@"
	fi
}
stop_memrelief() { systemctl stop memrelief.service 2>/dev/null; systemctl reset-failed memrelief.service 2>/dev/null; true; }

# slab_of CGROUPDIR prints slab_reclaimable in bytes (v2).
slab_of() { sed -n 's/^slab_reclaimable //p' "$1/memory.stat" 2>/dev/null; }

# pod_path UID prints the systemd-driver path of a burstable pod slice.
pod_path() { echo "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod$1.slice"; }

# dentry_load UID NAME RATE SECONDS starts loadgen in a containerd-like scope
# of a burstable pod slice, making negative dentries at RATE a second.
dentry_load() {
	systemd-run --quiet --scope --unit="cri-containerd-$2.scope" --slice="kubepods-burstable-pod$1.slice" \
		-p MemoryAccounting=yes \
		/usr/local/bin/loadgen dentries -dir "/var/tmp/neg-$2" -rate "$3" -duration "$4s" -hold \
		>"/run/e2e/loadgen-$2.out" 2>&1 &
}
stop_load() { systemctl kill --signal=SIGKILL "cri-containerd-$1.scope" 2>/dev/null; true; }

# peak_while DIR SECONDS samples slab_reclaimable of DIR every second and
# prints the highest value seen.
peak_while() {
	_peak=0
	_i=0
	while [ "$_i" -lt "$2" ]; do
		_v=$(slab_of "$1")
		[ -n "$_v" ] && [ "$_v" -gt "$_peak" ] && _peak=$_v
		sleep 1
		_i=$((_i + 1))
	done
	echo "$_peak"
}

# journal_since EPOCH prints memrelief's journal entries since EPOCH (date +%s) as
# JSON lines.
journal_since() { journalctl -u memrelief.service --since "@$1" -o json --no-pager -q 2>/dev/null; }

mb() { echo $(($1 / 1048576)); }

# The slab threshold of policy-e2e.toml's pods rule and the peak that still
# counts as "bounded near it": one sample interval and one cooldown of
# generator growth (~5 MB/s under TCG) above it, with room for reclaim lag.
SLAB_THRESHOLD=$((48 * 1048576))
SLAB_BOUND=$((SLAB_THRESHOLD * 5 / 2))
# The PSI threshold of its services rule, in percent.
PSI_THRESHOLD=5

# reinstall_if_purged puts the package back when scenario 9 (package
# lifecycle) has purged it, so scenarios sorted after it find the daemon
# they test. Without a .deb scenario 9 skips and nothing was removed.
reinstall_if_purged() {
	command -v memrelief >/dev/null 2>&1 && return 0
	for _deb in "$SHARE"/artifacts/*.deb; do break; done
	[ -f "$_deb" ] || fail "memrelief is not installed and there is no .deb to install"
	log "memrelief was purged (scenario 9): reinstalling $(basename "$_deb")"
	DEBIAN_FRONTEND=noninteractive dpkg -i "$_deb" >/run/e2e/reinstall.out 2>&1 ||
		fail "reinstalling the package after scenario 9 failed: $(tail -n 3 /run/e2e/reinstall.out)"
}
