#!/bin/bash
# Runs inside the e2e guest: puts real load on a kubepods-like slice and
# copies real kernel files into $SHARE/capture/$MODE laid out like a host
# tree (sys/fs/cgroup/..., proc/...), for use as test fixtures.
# $SHARE/mode names the boot: unified, hybrid or legacy.
set -u
SHARE=/mnt/host
MODE=$(cat $SHARE/mode)
OUT=$SHARE/capture/$MODE
rm -rf "$OUT"; mkdir -p "$OUT"
README=$OUT/README.txt
note() { printf '%s\n' "$*" >>"$README"; }

install -m 0755 $SHARE/loadgen /usr/local/bin/loadgen

POD=kubepods-burstable-pod1234_5678.slice
CID=$(printf '%s' "memrelief-capture" | sha256sum | cut -c1-64)
CID2=$(printf '%s' "memrelief-capture-stress" | sha256sum | cut -c1-64)
SCOPE=cri-containerd-$CID.scope
SVC=cri-containerd-$CID2.service
PODPATH=kubepods.slice/kubepods-burstable.slice/$POD

{
	echo "memrelief fixture capture, mode: $MODE"
	echo "captured: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "uname -r: $(uname -r)"
	echo "systemd: $(systemctl --version | head -1)"
	echo "cmdline: $(cat /proc/cmdline)"
	echo "guest: Debian bookworm under QEMU TCG, 2 vCPU, 2048 MB, no swap"
	echo
} >"$README"

# A pods tree for the load process to watch, like /var/log/pods on a node.
for i in 0 1 2 3 4 5 6 7; do
	mkdir -p /var/log/pods/default_web-${i}_1234-5678-${i}/app /var/log/pods/default_web-${i}_1234-5678-${i}/sidecar
	echo "line" >/var/log/pods/default_web-${i}_1234-5678-${i}/app/0.log
done

acct="-p MemoryAccounting=yes"
# The load process: negative dentries, an inotify watch over the pods tree,
# a plain file held open. Started as a scope, the way containerd does.
systemd-run --quiet --scope --unit="$SCOPE" --slice="$POD" $acct \
	/usr/local/bin/loadgen dentries -dir /var/tmp/neg -count 400000 -hold \
	-watch /var/log/pods -open /etc/os-release >/run/loadgen.out 2>&1 &
# Pressure in the same pod: anonymous memory above a tight MemoryHigh. v1
# has no memory.high (systemd ignores MemoryHigh= there), so on v1 the stall
# comes from file cache churn against a hard limit the anon part nearly fills.
if [ "$MODE" = unified ]; then
	STRESS="MemoryHigh=48M: stress-ng --vm 1 --vm-bytes 160M --vm-keep"
	systemd-run --quiet --unit="$SVC" --slice="$POD" $acct -p MemoryHigh=48M \
		stress-ng --vm 1 --vm-bytes 160M --vm-keep --timeout 300s >/dev/null 2>&1
else
	STRESS="MemoryMax=96M: stress-ng --vm 1 --vm-bytes 72M --vm-keep --hdd 1 --hdd-bytes 64M"
	systemd-run --quiet --unit="$SVC" --slice="$POD" $acct -p MemoryMax=96M \
		stress-ng --vm 1 --vm-bytes 72M --vm-keep --hdd 1 --hdd-bytes 64M --temp-path /var/tmp --timeout 300s >/dev/null 2>&1
fi

for _ in $(seq 1 240); do
	grep -q work=done /run/loadgen.out 2>/dev/null && break
	sleep 0.5
done
cat /run/loadgen.out >>"$README"
PID=$(sed -n 's/^pid=//p' /run/loadgen.out | head -1)
IFD=$(sed -n 's/^inotify_fd=\([0-9]*\).*/\1/p' /run/loadgen.out | head -1)
FFD=$(sed -n 's/^file_fd=//p' /run/loadgen.out | head -1)
# Let the PSI averages (2 s period) catch the stress.
sleep 12
note "load process: pid $PID, $SCOPE in $PODPATH"
note "stress: $SVC ($STRESS) in $PODPATH"

# copydir SRC: every readable regular file of one cgroup directory (not its
# children), write-only files listed in README.
copydir() {
	local src=$1 dst=$OUT$1 f wo=""
	[ -d "$src" ] || { note "absent: $src"; return; }
	mkdir -p "$dst"
	for f in "$src"/*; do
		[ -f "$f" ] || continue
		if [ -z "$(find "$f" -maxdepth 0 -perm /0444)" ]; then
			wo="$wo ${f##*/}"
			continue
		fi
		cat "$f" >"$dst/${f##*/}" 2>"$dst/${f##*/}.err" || note "read failed: $f: $(cat "$dst/${f##*/}.err")"
		[ -s "$dst/${f##*/}.err" ] || rm -f "$dst/${f##*/}.err"
	done
	note "write-only in $src:${wo:- none}"
}
copyfile() {
	local src=$1
	[ -e "$src" ] || { note "absent: $src"; return; }
	mkdir -p "$OUT$(dirname "$src")"
	cat "$src" >"$OUT$src" 2>/dev/null || note "read failed: $src"
}

for f in meminfo pressure/memory pressure/cpu pressure/io sys/fs/dentry-state sys/vm/vfs_cache_pressure \
	sys/vm/swappiness version sys/kernel/osrelease 1/comm 1/cmdline 1/cgroup cgroups self/mountinfo swaps \
	slabinfo filesystems; do
	copyfile /proc/$f
done
# /proc/self is whoever reads: keep the mount table under the load process too.
for f in status smaps_rollup cmdline comm cgroup mountinfo "fdinfo/$IFD" "fdinfo/$FFD"; do
	copyfile /proc/$PID/$f
done
note "/proc/$PID/fd/$IFD -> $(readlink /proc/$PID/fd/$IFD) (inotify, watches /var/log/pods tree)"
note "/proc/$PID/fd/$FFD -> $(readlink /proc/$PID/fd/$FFD) (plain file)"
note ""
note "statfs magic (stat -f -c %t):"
for d in /sys/fs/cgroup /sys/fs/cgroup/unified /sys/fs/cgroup/memory /sys/fs/cgroup/systemd; do
	note "  $d: $(stat -f -c %t "$d" 2>&1)"
done
note ""

case $MODE in
unified)
	CG=/sys/fs/cgroup
	copydir $CG
	[ -e $CG/memory.stat ] && note "root memory.stat: present" || note "root memory.stat: absent (expected on v2)"
	for d in system.slice user.slice init.scope kubepods.slice kubepods.slice/kubepods-burstable.slice \
		$PODPATH $PODPATH/$SCOPE $PODPATH/$SVC system.slice/e2e-runner.service; do
		copydir $CG/$d
	done
	P=$CG/$PODPATH
	note ""
	note "psi-probe on $P/memory.pressure (stress running):"
	loadgen psi-probe -file $P/memory.pressure -timeout 8s >>"$README" 2>&1
	note "psi-probe on /proc/pressure/memory:"
	loadgen psi-probe -file /proc/pressure/memory -timeout 8s >>"$README" 2>&1
	# A task throttled at memory.high ignores SIGTERM for the whole stop timeout.
	systemctl kill --signal=SIGKILL "$SVC" 2>/dev/null
	sleep 1
	slab() { sed -n "s/^slab_reclaimable //p" $P/memory.stat; }
	note ""
	note "memory.reclaim on $P (stress stopped, loadgen holding its dentries):"
	b=$(slab); cb=$(cat $P/memory.current); t0=$(date +%s.%N)
	echo 16M >$P/memory.reclaim 2>/tmp/r.err; rc=$?
	t1=$(date +%s.%N)
	note "  echo 16M: exit $rc $(cat /tmp/r.err) slab_reclaimable $b -> $(slab), memory.current $cb -> $(cat $P/memory.current), $(awk "BEGIN{printf \"%.2f\", $t1 - $t0}") s"
	b=$(slab)
	echo "16M swappiness=0" >$P/memory.reclaim 2>/tmp/r.err; rc=$?
	note "  echo '16M swappiness=0': exit $rc $(cat /tmp/r.err) slab_reclaimable $b -> $(slab)"
	b=$(slab)
	echo 512M >$P/memory.reclaim 2>/tmp/r.err; rc=$?
	note "  echo 512M: exit $rc $(cat /tmp/r.err) slab_reclaimable $b -> $(slab)"
	mkdir -p "$OUT/extra"
	cat $P/memory.stat >"$OUT/extra/pod-memory.stat.after-reclaim"
	cp /proc/sys/fs/dentry-state "$OUT/extra/dentry-state.after-reclaim"
	;;
hybrid | legacy)
	M=/sys/fs/cgroup/memory
	copydir $M
	for d in kubepods.slice $PODPATH $PODPATH/$SCOPE $PODPATH/$SVC; do
		copydir $M/$d
	done
	note "memory.pressure_level in pod dir: $(ls -l $M/$PODPATH/memory.pressure_level 2>&1)"
	copydir /sys/fs/cgroup/systemd/$PODPATH/$SCOPE
	if [ "$MODE" = hybrid ]; then
		U=/sys/fs/cgroup/unified
		copydir $U
		for d in $PODPATH $PODPATH/$SCOPE $PODPATH/$SVC; do copydir $U/$d; done
		note ""
		note "psi-probe on $U/$PODPATH/memory.pressure (stress running):"
		loadgen psi-probe -file $U/$PODPATH/memory.pressure -timeout 8s >>"$README" 2>&1
	fi
	note "psi-probe on /proc/pressure/memory:"
	loadgen psi-probe -file /proc/pressure/memory -timeout 8s >>"$README" 2>&1
	;;
esac

note ""
note "files captured:"
(cd "$OUT" && find . -type f | sort) >>"$README"
echo "capture $MODE done"
# Stopping them at poweroff would wait out their stop timeouts.
systemctl kill --signal=SIGKILL "$SVC" "$SCOPE" 2>/dev/null
