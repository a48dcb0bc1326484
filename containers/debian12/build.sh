#!/bin/sh
# One out-of-tree module build against a Debian headers tree. Inputs come from the environment
# (set by the host from a fully resolved build description); results go to /out.
#   KREL            kernel release, e.g. 6.1.0-56-amd64
#   HEADER_DEBS     .deb files in /debs holding the kbuild tree (headers-common, headers-flavour, kbuild)
#   SOURCE_DEB      the linux-source .deb in /debs; SOURCE_TARBALL its member holding the tree
#   MODULE          module name; MODULE_SOURCES  paths inside the tree (one directory)
#   IMAGE_DEB       optional: linux-image .deb whose shipped module is the oracle; SHIPPED_MEMBER its
#                   path in the package (a .xz member is decompressed: 6.12 ships nbd.ko.xz)
#   COMMON_TREE     the headers-common tree (/usr/src/linux-headers-6.1.0-56-common-rt) for patch rules
#   PATCH_RULES     patch rules for apply-patches.sh (may be empty)
#   DERIVED         /derived (host cache for members pulled out of large archives) and SOURCE_KEY/IMAGE_KEY
#   OUT, WORK       where results go and where to work (default /out, /work): several builds may share
#                   one container, each with its own (src/build/kept-builders.ts)
set -eu
stage() { echo "@@stage $1" >&2; }
out=${OUT:-/out}; mkdir -p "$out"
w=${WORK:-/work}; mkdir -p "$w/mod"

stage unpack-headers
# The kbuild tree is unpacked once per header set into the host's derived cache (never onto the
# container's overlay: 15 s there against under 1 s), then linked where the headers' Makefile
# expects it by absolute path; only what an x86 build reads (unpack-headers.sh).
k=$DERIVED/kbuild-$HEADERS_KEY
debs=""; for d in $HEADER_DEBS; do debs="$debs /debs/$d"; done
# shellcheck disable=SC2086
[ -d "$k" ] || /usr/local/lib/nbdforge/unpack-headers.sh "$k" $debs
for t in "$k"/usr/src/* "$k"/usr/lib/*; do
  ln -sfn "$t" "${t#"$k"}"
done
tree=/usr/src/linux-headers-$KREL
[ -f "$tree/Module.symvers" ] || { echo "no Module.symvers in $tree" >&2; exit 4; }

stage extract-source
srcdir=$DERIVED/src-$SOURCE_KEY
# Usually streamed out at fetch time already (fetch.sh); from a kept .deb otherwise.
# shellcheck disable=SC2086
[ -d "$srcdir" ] || /usr/local/lib/nbdforge/extract-source.sh "/debs/$SOURCE_DEB" "$SOURCE_TARBALL" "$SOURCE_PREFIX" "$srcdir" $MODULE_SOURCES
moddir=""
for s in $MODULE_SOURCES; do
  cp "$srcdir/$SOURCE_PREFIX$s" "$w/mod/"
  cp "$srcdir/$SOURCE_PREFIX$s" "$out/"
  moddir=$(dirname "$s")
done

# Rule-based source fixes (kernels/patches/), each only when its conditions hold in this tree.
/usr/local/lib/nbdforge/apply-patches.sh "$COMMON_TREE" "$w/mod" "$out/patches.txt"

stage compile
# (containers/common/compile.sh) __FILE__ strings as the in-tree build writes them, so .rodata can
# equal the distribution's.
/usr/local/lib/nbdforge/compile.sh "$tree" "$w/mod" "$out" "$MODULE" gcc-12 '' "ccflags-y += -fmacro-prefix-map=\$(src)/=$moddir/"

if [ -n "${IMAGE_DEB:-}" ]; then
  stage oracle
  oracle=$DERIVED/oracle-$IMAGE_KEY.ko
  if [ ! -f "$oracle" ]; then
    member=$SHIPPED_MEMBER
    tmp=$(mktemp "$oracle.tmp.XXXXXX")
    case "$member" in
      *.xz) unpack() { xz -dc; } ;;
      *) unpack() { cat; } ;;
    esac
    # Without pipefail the status is unpack's: xz fails on a missing (empty) or damaged member.
    if ! dpkg-deb --fsys-tarfile "/debs/$IMAGE_DEB" | tar -xOf - --occurrence=1 "$member" | unpack > "$tmp" || [ ! -s "$tmp" ]; then
      rm -f "$tmp"; echo "$member not in $IMAGE_DEB (or not readable)" >&2; exit 7
    fi
    mv "$tmp" "$oracle"
  fi
  cp "$oracle" "$out/shipped.ko"
fi
stage done
