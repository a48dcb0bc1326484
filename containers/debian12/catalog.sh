#!/bin/sh
# Prints the apt records (all versions) of every package a debian12 build may need, for the host to parse.
# /var/lib/apt/lists is the host's cache, so fetch containers reuse this update.
set -eu
apt-get update -q >&2
names=$(apt-cache pkgnames linux-headers-6.1.0- | grep -E '^linux-headers-6\.1\.0-[0-9]+-(common|amd64)$' || true)
images=$(apt-cache pkgnames linux-image-6.1.0- | grep -E '^linux-image-6\.1\.0-[0-9]+-amd64$' || true)
[ -n "$names" ] || { echo "no linux-headers-6.1.0-N packages in this archive" >&2; exit 3; }
# shellcheck disable=SC2086
apt-cache show $names $images linux-source-6.1 linux-kbuild-6.1 linux-compiler-gcc-12-x86
