#!/bin/sh
# Builds the Debian bookworm guest used by the end-to-end tests.
#
# Usage: build.sh OUTDIR
# Leaves OUTDIR/root.img (ext4, raw), OUTDIR/vmlinuz and OUTDIR/initrd.img.
# The harness names OUTDIR after the sha256 of this file, so any change here
# is a new image; keep everything that shapes the image in this one file.
#
# The guest is generic: at boot a oneshot unit mounts the 9p share "host0"
# on /mnt/host, runs /mnt/host/run.sh if present, copies the journal to the
# share and powers off. Scenario logic lives on the share, not in the image,
# so editing a scenario does not rebuild the image.
set -eu

out=${1:?usage: build.sh OUTDIR}
packages=systemd,systemd-sysv,dbus,udev,kmod,procps,linux-image-amd64,stress-ng,systemd-oomd,jq,inotify-tools,psmisc,containerd,docker.io

# The mirror comes from this machine's apt configuration: CI hosts reach only
# the mirror they are configured for.
mirror() {
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk '
			/^URIs:/ { u = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i !~ /-/) s = 1 }
			/^[[:space:]]*$/ { if (u != "" && s && u !~ /security/) { print u; exit } u = ""; s = 0 }
			END { if (u != "" && s && u !~ /security/) print u }
		' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		awk '$1 == "deb" && $2 !~ /^\[/ && $2 !~ /security/ { print $2 }
		     $1 == "deb" && $2 ~ /^\[/ { for (i = 3; i <= NF; i++) if ($i ~ /:\/\//) { if ($i !~ /security/) print $i; break } }' "$f"
	done
}
url=$(mirror | head -n 1)
[ -n "$url" ] || { echo "build.sh: no Debian mirror found in /etc/apt" >&2; exit 1; }

work=$(mktemp -d "${out%/}.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs

debootstrap --variant=minbase --include="$packages" bookworm "$root" "$url"

echo memrelief-e2e >"$root/etc/hostname"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$root/etc/fstab"
# No password login is ever needed: the guest only runs the share's script.
printf '9p\n9pnet_virtio\n' >"$root/etc/modules-load.d/e2e-9p.conf"

cat >"$root/usr/local/sbin/e2e-runner" <<'RUNNER'
#!/bin/sh
# Runs the host's script from the 9p share, saves the journal, powers off.
modprobe 9pnet_virtio 2>/dev/null; modprobe 9p 2>/dev/null
mkdir -p /mnt/host
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host0 /mnt/host || { systemctl poweroff --force --no-block; exit 1; }
rc=0
if [ -f /mnt/host/run.sh ]; then
	sh /mnt/host/run.sh >/mnt/host/run.log 2>&1 || rc=$?
fi
echo "$rc" >/mnt/host/run.rc
journalctl -b -o short-precise --no-pager >/mnt/host/journal.txt 2>&1
sync
# Results and journal are on the host already and the root disk is a
# throw-away snapshot: skip the orderly stop of every unit (stress-ng
# throttled at memory.high alone can hold a normal shutdown for 90 s).
systemctl poweroff --force --no-block
RUNNER
chmod 0755 "$root/usr/local/sbin/e2e-runner"

cat >"$root/etc/systemd/system/e2e-runner.service" <<'UNIT'
[Unit]
Description=memrelief e2e scenario runner
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/e2e-runner
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
UNIT
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf /etc/systemd/system/e2e-runner.service "$root/etc/systemd/system/multi-user.target.wants/e2e-runner.service"
# containerd and dockerd run only in the scenarios that start containers
# with them, not beside every other scenario's measurements.
rm -f "$root/etc/systemd/system/multi-user.target.wants/containerd.service" \
	"$root/etc/systemd/system/multi-user.target.wants/docker.service" \
	"$root/etc/systemd/system/sockets.target.wants/docker.socket"
# A serial getty would only compete with the runner for the console.
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"

# Keep the image small: apt lists and caches are not needed in the guest.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n 1)
initrd=$(ls "$root"/boot/initrd.img-* | sort -V | tail -n 1)
cp "$kernel" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"
mkfs.ext4 -q -F -L e2e-root -d "$root" "$work/root.img" 2G
rm -rf "$root"

mkdir -p "$out"
mv "$work/vmlinuz" "$work/initrd.img" "$work/root.img" "$out/"
echo "image ready in $out"
