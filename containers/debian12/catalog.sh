#!/bin/sh
# Prints the apt records (all versions) of every package a debian12 build may need, for the host to parse.
# What is wanted comes from the host (kernels/debian12/lines.json, via src/families/debian12/lines.ts):
#   CATALOG_PREFIXES  name prefixes for apt-cache pkgnames, space-separated
#   CATALOG_PATTERNS  extended regular expressions, one a line; a name is wanted when one matches it whole
# /var/lib/apt/lists is the host's cache, so fetch containers reuse this update.
# Bounds as in fetch.sh (APT_TIMEOUT, APT_RETRIES, APT_DEADLINE from src/families/debian12/apt-bounds.ts).
set -eu
mirrors=$({ grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | cut -d' ' -f2-; grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}'; } | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/ *$//')
rc=0
timeout -k 5 "${APT_DEADLINE:-3600}" apt-get update -q \
  -o Acquire::http::Timeout="${APT_TIMEOUT:-30}" -o Acquire::https::Timeout="${APT_TIMEOUT:-30}" \
  -o Acquire::Retries="${APT_RETRIES:-2}" >&2 || rc=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "nbdforge: apt-get update from ${mirrors:-the configured mirror} did not finish within its deadline of ${APT_DEADLINE:-3600} s; try another mirror in the host's apt sources, or allow more time with --timeout SECONDS (or NBDFORGE_TIMEOUT)" >&2
  exit 124
fi
[ "$rc" -eq 0 ] || { echo "nbdforge: apt-get update from ${mirrors:-the configured mirror} failed (apt exit $rc)" >&2; exit 1; }
pat=$(mktemp); printf '%s\n' "$CATALOG_PATTERNS" > "$pat"
names=$(for p in $CATALOG_PREFIXES; do apt-cache pkgnames "$p"; done | grep -Exf "$pat" | sort -u || true)
[ -n "$names" ] || { echo "no package of kernels/debian12/lines.json in this archive (prefixes: $CATALOG_PREFIXES)" >&2; exit 3; }
# shellcheck disable=SC2086
apt-cache show $names
