#!/bin/sh
# third-party-licenses.sh PKG OUT: writes to OUT the license texts of every
# module linked into the Go package PKG, from the module cache the build
# used. Most of them (BSD, MIT) require their notice to travel with the
# binary; the packages install OUT as
# /usr/share/doc/memrelief/third-party-licenses. Fails when a linked module
# has no license file, so a new dependency cannot ship without one.
set -eu
pkg=$1
out=$2
tmp=$out.tmp
trap 'rm -f "$tmp"' EXIT
{
	echo "memrelief links the following Go modules into /usr/bin/memrelief. Their licenses follow."
	echo "memrelief itself is under the Apache License 2.0 (see copyright, or LICENSE in its source)."
	printf '\n==== the Go standard library and runtime, %s: LICENSE ====\n\n' "$("${GO:-go}" env GOVERSION)"
	cat "$("${GO:-go}" env GOROOT)/LICENSE"
} >"$tmp"
"${GO:-go}" list -deps -f '{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}} {{.Dir}}{{end}}{{end}}' "$pkg" | sort -u |
	while read -r path version dir; do
		found=0
		for f in "$dir"/LICENSE* "$dir"/LICENCE* "$dir"/COPYING* "$dir"/NOTICE*; do
			[ -f "$f" ] || continue
			printf '\n==== %s %s: %s ====\n\n' "$path" "$version" "$(basename "$f")" >>"$tmp"
			cat "$f" >>"$tmp"
			found=1
		done
		if [ "$found" = 0 ]; then
			echo "third-party-licenses.sh: $path $version has no LICENSE, COPYING or NOTICE file in $dir" >&2
			exit 1
		fi
	done
mv "$tmp" "$out"
trap - EXIT
