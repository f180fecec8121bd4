# memrelief %post ($1: 1 on install, 2 on upgrade): what systemd's
# %systemd_post expands to (preset on first install, so the distribution's
# or the administrator's preset decides whether memrelief starts at boot),
# plus daemon-reload and the journal catalog.
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -eq 1 ]; then
	systemctl --no-reload preset memrelief.service >/dev/null 2>&1 || :
fi
# The catalog makes `journalctl -x -u memrelief` explain each event.
journalctl --update-catalog >/dev/null 2>&1 || :
exit 0
