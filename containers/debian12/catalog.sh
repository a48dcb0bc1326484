#!/bin/sh
# Prints the apt records (all versions) of every package a debian12 build may need, for the host to parse.
# What is wanted comes from the host (kernels/debian12/lines.json, via src/families/debian12/lines.ts):
#   CATALOG_PREFIXES  name prefixes for apt-cache pkgnames, space-separated
#   CATALOG_PATTERNS  extended regular expressions, one a line; a name is wanted when one matches it whole
# /var/lib/apt/lists is the host's cache, so fetch containers reuse this update.
set -eu
apt-get update -q >&2
pat=$(mktemp); printf '%s\n' "$CATALOG_PATTERNS" > "$pat"
names=$(for p in $CATALOG_PREFIXES; do apt-cache pkgnames "$p"; done | grep -Exf "$pat" | sort -u || true)
[ -n "$names" ] || { echo "no package of kernels/debian12/lines.json in this archive (prefixes: $CATALOG_PREFIXES)" >&2; exit 3; }
# shellcheck disable=SC2086
apt-cache show $names
