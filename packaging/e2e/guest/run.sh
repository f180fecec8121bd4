#!/bin/sh
# Runs inside the e2e guest (started by the image's e2e-runner unit from the
# 9p share). Installs memrelief the way an operator would, then runs every
# scenario meant for this boot's cgroup mode, one at a time, each bounded by
# its own timeout. Results go to $SHARE/results/NAME.result (key=value lines)
# and the scenario's output to $SHARE/results/NAME.log.
SHARE=/mnt/host
MODE=$(cat $SHARE/mode)
E2E=/run/e2e
export SHARE MODE E2E
mkdir -p $SHARE/results $E2E
echo "e2e: runner started at $(date +%T), $(cut -d" " -f1 /proc/uptime) s after boot"
echo "e2e: mode $MODE, kernel $(uname -r), $(systemctl --version | head -1)"

install -m 0755 $SHARE/loadgen /usr/local/bin/loadgen

# What the host looked like before memrelief arrived, for the package
# lifecycle scenario's "nothing left changed".
sysctl -a 2>/dev/null | grep -v -e random -e '^fs\.\(dentry\|inode\|file-nr\)' -e '^kernel\.ns_last_pid' | sort >$E2E/sysctl.before
find /etc /usr /run/systemd/system /run/systemd/system.control /var/lib/memrelief -xdev 2>/dev/null | sort >$E2E/files.before

deb=$(ls $SHARE/artifacts/*.deb 2>/dev/null | head -n 1)
if [ -n "$deb" ]; then
	echo "e2e: installing $deb"
	if DEBIAN_FRONTEND=noninteractive dpkg -i "$deb"; then echo deb >$E2E/installed-by; else echo "e2e: dpkg -i failed"; fi
else
	echo "e2e: no .deb, copying the staged tree to /"
	cp -a $SHARE/stage/. /
	ls $SHARE/stage/usr/lib/systemd/system/* >/dev/null 2>&1 && systemctl daemon-reload
	ls /usr/lib/systemd/catalog/*memrelief* >/dev/null 2>&1 && journalctl --update-catalog
	ls /usr/share/dbus-1/system.d/*memrelief* >/dev/null 2>&1 && systemctl reload dbus
	echo stage >$E2E/installed-by
fi

for s in $SHARE/scenarios/[0-9]*.sh; do
	name=$(basename "$s" .sh)
	modes=$(sed -n 's/^# modes: *//p' "$s" | head -n 1)
	case " $modes " in *" $MODE "*) ;; *) continue ;; esac
	t=$(sed -n 's/^# timeout: *//p' "$s" | head -n 1)
	res=$SHARE/results/$name.result
	rm -f "$res"
	echo "e2e: $name (timeout ${t}s)"
	start=$(date +%s)
	RESULT=$res timeout -k 10 "$t" sh "$s" >$SHARE/results/$name.log 2>&1
	rc=$?
	end=$(date +%s)
	if ! grep -q '^status=' "$res" 2>/dev/null; then
		if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
			printf 'status=fail\nmessage=timed out after %ss without a result\n' "$t" >>"$res"
		else
			printf 'status=fail\nmessage=exited %s without a result\n' "$rc" >>"$res"
		fi
	fi
	echo "seconds=$((end - start))" >>"$res"
	echo "e2e: $name $(sed -n 's/^status=//p' "$res") in $((end - start))s"
	sync
done
echo "e2e: done at $(date +%T)"
