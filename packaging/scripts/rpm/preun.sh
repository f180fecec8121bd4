# memrelief %preun ($1: 0 on erase, 1 on upgrade): %systemd_preun. On erase
# stop the daemon (on SIGTERM it restores vm.vfs_cache_pressure and every
# unit property it changed and removes its runtime drop-ins) and disable it.
if [ "$1" -eq 0 ]; then
	systemctl --no-reload disable --now memrelief.service >/dev/null 2>&1 || :
fi
exit 0
