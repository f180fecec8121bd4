#!/bin/sh
# vs-oomd.sh [N] [SECONDS] [INTERVAL]: memrelief and systemd-oomd side by
# side on one systemd host (the e2e guest: scenario 14-vs-oomd runs it).
# Both watch N transient services (systemd-oomd through
# ManagedOOMMemoryPressure=kill, memrelief through the packaged default
# policy at INTERVAL, 1s by default: systemd-oomd's own interval). Prints
# each daemon's CPU idle and per watched cgroup, its RSS, and memrelief's
# figure as a ratio of systemd-oomd's. Needs root, memrelief.service and
# systemd-oomd installed; restores the policy file and stops the services
# it made. TCG guests count host contention as guest CPU: run on an idle
# host, and compare ratios, not absolute figures.
set -eu
n=${1:-300}
secs=${2:-60}
interval=${3:-1s}
P=/etc/memrelief/policy.toml
saved=$(mktemp)
cp "$P" "$saved"
cleanup() {
	systemctl stop 'bench-oomd-*.service' 2>/dev/null || true
	cp "$saved" "$P"
	rm -f "$saved"
	systemctl restart memrelief.service
}
trap cleanup EXIT

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# rss_parts PID: "anonymous+file" KiB, to tell the heap from mapped code.
rss_parts() { awk '/^RssAnon/ {a = $2} /^RssFile/ {f = $2} END {print a "+" f}' "/proc/$1/status"; }
main_pid() { systemctl show -p MainPID --value "$1"; }
hz=$(getconf CLK_TCK)
# window: CPU milliseconds each daemon used over secs, "memrelief oomd".
window() {
	a0=$(ticks "$m")
	o0=$(ticks "$o")
	sleep "$secs"
	a1=$(ticks "$m")
	o1=$(ticks "$o")
	echo "$(((a1 - a0) * 1000 / hz)) $(((o1 - o0) * 1000 / hz))"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }

sed "s/^interval = \"[^\"]*\"/interval = \"$interval\"/" "$saved" >"$P"
grep -q "^interval = \"$interval\"" "$P" || { echo "vs-oomd.sh: could not set interval $interval in $P" >&2; exit 1; }
systemctl restart memrelief.service
systemctl start systemd-oomd.service
sleep 10
m=$(main_pid memrelief.service)
o=$(main_pid systemd-oomd.service)
[ "$m" -gt 0 ] && [ "$o" -gt 0 ] || { echo "vs-oomd.sh: memrelief ($m) or systemd-oomd ($o) not running" >&2; exit 1; }

set -- $(window)
idle_m=$1
idle_o=$2

i=0
while [ "$i" -lt "$n" ]; do
	systemd-run --quiet --unit="bench-oomd-$i" -p ManagedOOMMemoryPressure=kill -p MemoryAccounting=yes sleep infinity
	i=$((i + 1))
done
sleep 20 # memrelief finds new units at once (UnitNew) or at its next rescan
# The daemon's own count, from its sd_notify STATUS ("watching N cgroups; ...").
watched=$(systemctl show -p StatusText --value memrelief.service | sed -n 's/^watching \([0-9]*\) cgroups.*/\1/p')
set -- $(window)
load_m=$1
load_o=$2
rss_m=$(rss_kib "$m")
rss_o=$(rss_kib "$o")
parts_m=$(rss_parts "$m")
parts_o=$(rss_parts "$o")

# Per watched cgroup: the CPU the N services added, in microseconds per
# cgroup per second of wall time.
per_m=$(awk -v l="$load_m" -v i="$idle_m" -v n="$n" -v s="$secs" 'BEGIN { printf "%.1f", (l - i) * 1000 / n / s }')
per_o=$(awk -v l="$load_o" -v i="$idle_o" -v n="$n" -v s="$secs" 'BEGIN { printf "%.1f", (l - i) * 1000 / n / s }')
echo "n=$n interval=$interval window=${secs}s memrelief_watches=${watched:-?}"
echo "idle_cpu_ms_per_min memrelief=$((idle_m * 60 / secs)) oomd=$((idle_o * 60 / secs)) ratio=$(ratio "$idle_m" "$idle_o")"
echo "per_cgroup_cpu_us_per_s memrelief=$per_m oomd=$per_o ratio=$(ratio "$per_m" "$per_o")"
echo "rss_kib memrelief=$rss_m oomd=$rss_o ratio=$(ratio "$rss_m" "$rss_o") anon+file: memrelief=$parts_m oomd=$parts_o"
