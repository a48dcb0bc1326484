#!/bin/sh
# The classic recipe, timed step by step: full source tree, the headers' .config and Module.symvers,
# olddefconfig + modules_prepare, then every module of drivers/block. Env: KREL HEADERS_DEB SOURCE_DEB.
set -eu
t() { s=$(date +%s.%N); "$@"; e=$(date +%s.%N); echo "@@time $label $(echo "$e - $s" | bc)" >&2; }
cd /work
label=extract-tree t sh -c 'dpkg-deb --fsys-tarfile "/debs/$SOURCE_DEB" | tar -xOf - ./usr/src/linux-source-6.1.tar.xz | xz -T0 -dc | tar -x'
label=config t sh -c 'dpkg-deb --fsys-tarfile "/debs/$HEADERS_DEB" | tar -x -C /work ./usr/src/linux-headers-$KREL/.config ./usr/src/linux-headers-$KREL/Module.symvers'
cd linux-source-6.1
cp "/work/usr/src/linux-headers-$KREL/.config" .config
cp "/work/usr/src/linux-headers-$KREL/Module.symvers" Module.symvers
mk="make -s -j$(nproc) CC=gcc-12 HOSTCC=gcc-12 KERNELRELEASE=$KREL"
label=olddefconfig t $mk olddefconfig
label=modules_prepare t $mk modules_prepare
label=make-M-drivers-block t $mk M=drivers/block modules
mkdir -p /out && cp drivers/block/nbd.ko /out/nbd.ko
