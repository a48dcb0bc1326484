#!/bin/bash
# Apply the patch rules a build was given, each only when its conditions hold. Used in the builder
# container (it needs the kbuild tree) and by the unit tests on the host. Shared by every family
# (containers/<family>/apply-patches.sh links here).
#   apply-patches.sh TREE MODDIR APPLIED
#   TREE     the kbuild tree (its include/ answers "tree defines Y")
#   MODDIR   the module's sources, by basename
#   APPLIED  file that receives the id of every rule applied, one a line
#   PATCH_RULES (env) one rule a line, tab-separated (written by src/build/patches.ts):
#     id  file  source-contains  tree-defines  replace-word  with-word
# Every field is a plain identifier (checked on the host), so none needs quoting in grep or sed.
set -euo pipefail
tree=$1 moddir=$2 applied=$3
: > "$applied"
[ -n "${PATCH_RULES:-}" ] || exit 0
tab=$(printf '\t')
while IFS=$tab read -r id file contains defines from to; do
  [ -n "$id" ] || continue
  f=$moddir/$(basename "$file")
  if [ ! -f "$f" ]; then
    echo "@@patch $id skipped: $file is not among the module's sources" >&2
    continue
  fi
  if ! grep -qw -- "$contains" "$f"; then
    echo "@@patch $id skipped: $file does not use $contains" >&2
    continue
  fi
  if ! grep -rqsw --include='*.h' -- "$defines" "$tree/include"; then
    echo "@@patch $id skipped: the tree does not define $defines (searched $tree/include)" >&2
    continue
  fi
  sed -i "s/\\b$from\\b/$to/g" "$f"
  if grep -qw -- "$from" "$f"; then
    echo "@@patch $id failed: $from is still in $file" >&2
    exit 8
  fi
  echo "$id" >> "$applied"
  echo "@@patch $id applied to $file" >&2
done <<RULES
$PATCH_RULES
RULES
