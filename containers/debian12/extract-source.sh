#!/bin/sh
# Usage: extract-source.sh DEB TARBALL PREFIX DEST MEMBER...
# Streams MEMBERs (paths inside the kernel tree, e.g. drivers/block/nbd.c) out of the source package
# DEB: its data tarball -> TARBALL (./usr/src/linux-source-6.1.tar.xz) -> PREFIX/MEMBER, decompressed
# as a stream; tar stops reading at the last member it wants. DEST appears whole or not at all.
set -eu
deb=$1; tarball=$2; prefix=$3; dest=$4; shift 4
[ -d "$dest" ] && exit 0
parent=$(dirname "$dest")
# mktemp, not $$: every container is PID 1, and parallel builds share the derived cache.
tmp=$(mktemp -d "$parent/.tmp-src-XXXXXX")
members=""; for s in "$@"; do
  case "$s" in /* | *..*) echo "refusing source path $s" >&2; rm -rf "$tmp"; exit 5;; esac
  members="$members $prefix$s"
done
# shellcheck disable=SC2086
dpkg-deb --fsys-tarfile "$deb" | tar -xOf - "$tarball" | xz -T0 -dc | tar -x -C "$tmp" --occurrence=1 $members || true
for s in "$@"; do
  [ -f "$tmp/$prefix$s" ] && [ ! -L "$tmp/$prefix$s" ] || { echo "$s not found in $tarball of $deb" >&2; rm -rf "$tmp"; exit 5; }
done
mv "$tmp" "$dest" 2>/dev/null || rm -rf "$tmp"
