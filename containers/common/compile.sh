#!/bin/sh
# The compile-and-collect tail every family's build.sh ends with: one out-of-tree module against a
# prepared kernel tree, and what verification needs next to it in OUT.
# Usage: compile.sh TREE MODDIR OUT MODULE CC MAKE_CC [KBUILD_LINE]...
#   TREE    the kernel's build tree (Module.symvers, .config, Makefile)
#   MODDIR  the module's sources, already patched; the build happens there
#   OUT     gets MODULE.ko (debug info stripped), MODULE.debug.ko, Module.symvers, kernel.config,
#           compiler.txt (the compiler's first --version line), make.log
#   CC      the compiler (the release's own), whose --version is recorded
#   MAKE_CC passed to make as CC=..., or '' to keep the tree's own choice
#   KBUILD_LINE  extra lines for the module's Kbuild file (e.g. ccflags-y += ...)
# Exit 6 when the build fails, after the last 40 lines of make.log on stderr.
set -eu
tree=$1; moddir=$2; out=$3; module=$4; cc=$5; make_cc=$6; shift 6
cd "$moddir"
{
  echo "obj-m := $module.o"
  for l in "$@"; do echo "$l"; done
} > Kbuild
set -- -s -C "$tree" M="$moddir"
[ -z "$make_cc" ] || set -- "$@" CC="$make_cc"
if ! make "$@" modules >"$out/make.log" 2>&1; then
  tail -40 "$out/make.log" >&2
  exit 6
fi
cp "$module.ko" "$out/$module.debug.ko"
strip --strip-debug -o "$out/$module.ko" "$module.ko"
cp "$tree/Module.symvers" "$out/Module.symvers"
cp "$tree/.config" "$out/kernel.config"
"$cc" --version | head -n 1 > "$out/compiler.txt"
