# Scenario 9: package lifecycle: installed (by the runner), upgraded over
# itself, removed and purged; nothing left changed.
# modes: unified
# timeout: 90
. "$SHARE/scenarios/lib.sh"
need_deb
[ "$(cat /run/e2e/installed-by)" = deb ] || fail "the runner could not install the .deb (see run.log)"
deb=$(ls "$SHARE"/artifacts/*.deb | head -n 1)
pkg=$(dpkg-deb -f "$deb" Package)
figure package "$pkg $(dpkg-deb -f "$deb" Version)"
systemctl start memrelief.service 2>/dev/null
systemctl is-active -q memrelief.service || fail "memrelief.service not active after install and start"
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >/run/e2e/s9.upgrade 2>&1 || fail "upgrade over itself failed: $(tail -n 3 /run/e2e/s9.upgrade)"
systemctl is-active -q memrelief.service || fail "memrelief.service not active after upgrade over itself"
DEBIAN_FRONTEND=noninteractive dpkg --purge "$pkg" >/run/e2e/s9.purge 2>&1 || fail "purge failed: $(tail -n 3 /run/e2e/s9.purge)"
systemctl is-active -q memrelief.service && fail "memrelief.service still active after purge"
# vm.* holds every knob memrelief may touch; elsewhere counters move by themselves.
sysctl -a 2>/dev/null | grep "^vm\." | sort >/run/e2e/sysctl.after
changed=$(grep "^vm\." /run/e2e/sysctl.before | diff - /run/e2e/sysctl.after | grep '^[<>]' | head -n 5)
[ -z "$changed" ] || fail "sysctls changed after purge: $changed"
find /etc /usr /run/systemd/system /run/systemd/system.control /var/lib/memrelief -xdev 2>/dev/null | sort >/run/e2e/files.after
left=$(comm -13 /run/e2e/files.before /run/e2e/files.after | grep -i memrelief | head -n 5)
[ -z "$left" ] || fail "left behind after purge: $left"
pass "installed, upgraded over itself, purged; no sysctl or file left changed"
