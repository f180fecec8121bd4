#!/bin/sh
# Boots the e2e guest once per cgroup mode and copies real kernel files out of
# it, for fixtures. Usage: capture.sh IMAGEDIR OUTDIR [MODE...]
# IMAGEDIR is what image/build.sh made; MODE is unified, hybrid or legacy.
set -eu
img=${1:?usage: capture.sh IMAGEDIR OUTDIR [MODE...]}
out=${2:?usage: capture.sh IMAGEDIR OUTDIR [MODE...]}
shift 2
[ $# -gt 0 ] || set -- unified legacy hybrid
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
share=$(mktemp -d)
trap 'rm -rf "$share"' EXIT
(cd "$repo" && CGO_ENABLED=0 go build -o "$share/loadgen" ./packaging/e2e/loadgen)
cp "$here/guest.sh" "$share/capture.sh"
echo 'exec bash /mnt/host/capture.sh' >"$share/run.sh"
for mode in "$@"; do
	case $mode in
	unified) args= ;;
	hybrid) args=systemd.unified_cgroup_hierarchy=0 ;;
	legacy) args="systemd.unified_cgroup_hierarchy=0 systemd.legacy_systemd_cgroup_controller=1" ;;
	*) echo "unknown mode $mode" >&2; exit 2 ;;
	esac
	echo "$mode" >"$share/mode"
	rm -f "$share/run.rc" "$share/journal.txt"
	start=$(date +%s)
	timeout 600 qemu-system-x86_64 -accel tcg -m 2048 -smp 2 -no-reboot \
		-kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
		-drive "file=$img/root.img,format=raw,if=virtio,snapshot=on" \
		-append "root=/dev/vda rw console=ttyS0 quiet $args" \
		-serial "file:$share/console-$mode.log" -display none -monitor none -net none \
		-virtfs "local,path=$share,mount_tag=host0,security_model=none" || echo "qemu: exit $?"
	echo "$mode: boot took $(($(date +%s) - start)) s, run.rc=$(cat "$share/run.rc" 2>/dev/null || echo none)"
	mkdir -p "$out"
	rm -rf "${out:?}/$mode"
	if [ -d "$share/capture/$mode" ]; then
		cp -a "$share/capture/$mode" "$out/$mode"
	else
		mkdir -p "$out/$mode"
	fi
	cp "$share/console-$mode.log" "$out/$mode/console.log" 2>/dev/null || true
	cp "$share/journal.txt" "$out/$mode/journal.txt" 2>/dev/null || true
	cp "$share/run.log" "$out/$mode/run.log" 2>/dev/null || true
done
