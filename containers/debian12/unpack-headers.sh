#!/bin/sh
# Usage: unpack-headers.sh DEST DEB...
# Unpacks the header packages (headers-common, headers-<flavour>, kbuild) into DEST, which appears
# whole or not at all (parallel builds share the derived cache). Only ./usr (Debian 12's /lib is a
# symlink into /usr), and only what an x86 out-of-tree build reads: headers-common ships every
# architecture's arch/ headers and Makefiles (3,300 files and 20 MB of 16,500 and 83 MB for 6.1),
# and the packages' docs; neither is read when SRCARCH is x86. xtensa is the one other arch whose
# name sorts after w.
set -eu
dest=$1; shift
[ -d "$dest" ] && exit 0
tmp=$(mktemp -d "$(dirname "$dest")/.tmp-kbuild-XXXXXX")
for d in "$@"; do
  if ! dpkg-deb --fsys-tarfile "$d" | tar -x -C "$tmp" --no-wildcards-match-slash \
    --exclude='./usr/share/doc' --exclude='./usr/src/*/arch/[a-w]*' --exclude='./usr/src/*/arch/xtensa' ./usr; then
    rm -rf "$tmp"; echo "cannot unpack $d" >&2; exit 4
  fi
done
mv "$tmp" "$dest" 2>/dev/null || rm -rf "$tmp"
