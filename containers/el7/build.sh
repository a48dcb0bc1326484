#!/bin/bash
# One out-of-tree module build against a CentOS 7 kernel-devel tree, run in the builder container of
# the kernel's point release (or the stand-in, containers/el7-standin). Inputs come from the
# environment (set by the host from a fully resolved build description); results go to /out.
#   KREL         kernel release (uname -r), e.g. 3.10.0-1160.el7.x86_64
#   KVER         version-release of the packages, e.g. 3.10.0-1160.el7 (names linux-<KVER>.tar.xz)
#   DEVEL_RPM    kernel-devel RPM (read-only bind), DEVEL_KEY its sha256, DEVEL_NAME its file name
#   SRPM         kernel source RPM (read-only bind), SRPM_KEY its sha256, SRPM_NAME its file name
#   MODULE       module name; MODULE_SOURCES  paths inside the tree (one directory)
#   PATCH_RULES  rules for apply-patches.sh (may be empty)
#   DERIVED      /derived: host cache of what is unpacked from each RPM, keyed by its sha256
# Nothing is extracted from an archive without its member names checked first: an absolute name, a
# `..` component, or a symlink leading out of the extraction directory refuses the whole archive.
set -euo pipefail
stage() { echo "@@stage $1" >&2; }
fail() { local code=$1; shift; echo "nbdforge: $*" >&2; exit "$code"; }
lib=$(dirname "$(readlink -f "$0")")
out=/out; mkdir -p "$out"
w=/work; mkdir -p "$w/mod"
CC=${CC:-gcc}

# shellcheck source=archive-check.sh
. "$lib/archive-check.sh"

stage unpack-headers
k=$DERIVED/devel-$DEVEL_KEY
if [ ! -d "$k" ]; then
  rpm2cpio "$DEVEL_RPM" > "$w/devel.cpio"
  bad=$(cpio -it --quiet < "$w/devel.cpio" | bad_name)
  [ -z "$bad" ] || fail 5 "refusing $DEVEL_NAME: archive member \"$bad\" leaves the extraction directory"
  bad=$(cpio -itv --quiet < "$w/devel.cpio" | bad_link)
  [ -z "$bad" ] || fail 5 "refusing $DEVEL_NAME: symlink \"$bad\" points outside the extraction directory"
  tmp=$(mktemp -d "$DERIVED/.tmp-devel-XXXXXX")
  (cd "$tmp" && cpio -idm --quiet --no-absolute-filenames < "$w/devel.cpio")
  rm -f "$w/devel.cpio"
  [ -d "$tmp/usr/src/kernels/$KREL" ] || { rm -rf "$tmp"; fail 4 "$DEVEL_NAME has no /usr/src/kernels/$KREL"; }
  mv "$tmp" "$k" 2>/dev/null || rm -rf "$tmp"
fi
mkdir -p /usr/src/kernels
ln -sfn "$k/usr/src/kernels/$KREL" "/usr/src/kernels/$KREL"
tree=/usr/src/kernels/$KREL
[ -f "$tree/Module.symvers" ] || fail 4 "no Module.symvers in $DEVEL_NAME ($tree)"
[ -f "$tree/.config" ] || fail 4 "no .config in $DEVEL_NAME ($tree)"
# The release baked into the tree is what the module's vermagic will carry: it must be the kernel's.
rel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$tree/include/generated/utsrelease.h" 2>/dev/null || true)
[ -n "$rel" ] || rel=$(cat "$tree/include/config/kernel.release" 2>/dev/null || true)
[ "$rel" = "$KREL" ] || fail 4 "$DEVEL_NAME is a tree for \"$rel\", not $KREL"

stage extract-source
tarball=linux-$KVER.tar.xz
top=linux-$KVER/
srcdir=$DERIVED/src-$SRPM_KEY
if [ ! -d "$srcdir" ]; then
  rpm2cpio "$SRPM" | cpio -it --quiet > "$w/srpm.list"
  bad=$(bad_name < "$w/srpm.list")
  [ -z "$bad" ] || fail 5 "refusing $SRPM_NAME: archive member \"$bad\" leaves the extraction directory"
  grep -qxF -e "$tarball" -e "./$tarball" "$w/srpm.list" || fail 5 "$tarball is not in $SRPM_NAME"
  members=()
  for s in $MODULE_SOURCES; do
    case "/$s/" in */../*|//*) fail 5 "refusing source path $s";; esac
    members+=("$top$s")
  done
  tmp=$(mktemp -d "$DERIVED/.tmp-src-XXXXXX")
  # One pass over the tarball: tar lists every member name (checked below) while a second tar
  # extracts only the module's own files, so a hostile member is never written anywhere.
  mkfifo "$w/names.fifo"
  tar -t < "$w/names.fifo" > "$w/tar.list" 2>"$w/tar-t.err" &
  lister=$!
  rc=0
  rpm2cpio "$SRPM" | cpio -i --quiet --to-stdout "$tarball" "./$tarball" | xz -dc | tee "$w/names.fifo" \
    | tar -x -C "$tmp" "${members[@]}" 2>"$w/tar-x.err" || rc=$?
  wait "$lister" || { [ "$rc" -ne 0 ] || rc=1; }
  bad=$(bad_name < "$w/tar.list")
  if [ -n "$bad" ]; then
    rm -rf "$tmp"
    fail 5 "refusing $tarball from $SRPM_NAME: archive member \"$bad\" leaves the extraction directory"
  fi
  if [ "$rc" -ne 0 ]; then
    rm -rf "$tmp"
    cat "$w/tar-x.err" "$w/tar-t.err" >&2
    fail 5 "extracting ${members[*]} from $tarball in $SRPM_NAME failed"
  fi
  for m in "${members[@]}"; do
    if [ -L "$tmp/$m" ] || [ ! -f "$tmp/$m" ]; then rm -rf "$tmp"; fail 5 "$m in $tarball is not a regular file"; fi
  done
  mv "$tmp" "$srcdir" 2>/dev/null || rm -rf "$tmp"
fi
for s in $MODULE_SOURCES; do
  cp "$srcdir/$top$s" "$w/mod/"
  cp "$srcdir/$top$s" "$out/"
done
"$lib/apply-patches.sh" "$tree" "$w/mod" "$out/patches.txt" 2>"$w/patches.log" || { cat "$w/patches.log" >&2; exit 8; }
cat "$w/patches.log" >&2

stage compile
# (containers/common/compile.sh) on failure: the log's last lines, then the patch decisions, what a
# reader needs to see why
if ! "$lib/compile.sh" "$tree" "$w/mod" "$out" "$MODULE" "$CC" "$CC"; then
  cat "$w/patches.log" >&2
  fail 6 "compiling $MODULE for $KREL failed"
fi
stage done
