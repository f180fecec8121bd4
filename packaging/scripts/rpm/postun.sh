# memrelief %postun ($1: 0 on erase, 1 on upgrade): %systemd_postun_with_restart.
# An upgrade restarts a running daemon so the new binary runs; /run/memrelief
# survives (RuntimeDirectoryPreserve=yes). An erase removes the state
# memrelief kept; /etc/memrelief/policy.toml is %config(noreplace), so rpm
# keeps it as policy.toml.rpmsave if it was changed.
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -ge 1 ]; then
	systemctl try-restart memrelief.service >/dev/null 2>&1 || :
else
	rm -rf /var/lib/memrelief /run/memrelief
fi
journalctl --update-catalog >/dev/null 2>&1 || :
exit 0
