#!/bin/sh
# Usage: fetch.sh name=version ...   Downloads .deb files into /debs (the host's cache) with apt.
# Bounds from the host (src/families/debian12/apt-bounds.ts; --timeout, NBDFORGE_TIMEOUT):
#   APT_TIMEOUT   seconds apt waits to connect or for data (Acquire::http::Timeout)
#   APT_RETRIES   further tries per file (Acquire::Retries), all inside APT_DEADLINE
#   APT_DEADLINE  seconds for the whole download: the packages' size at the minimum rate, at least the floor
#   EXTRACT       source packages not to keep, one a line: NAME=VERSION FILENAME SHA256 TARBALL PREFIX KEY MEMBER...
#                 each is downloaded into /stream (a tmpfs), checked whole against SHA256 (the catalog's, read
#                 from the signed index), its MEMBERs streamed out into /derived/src-KEY, then deleted
set -eu
start=$(date +%s)
mirrors=$({ grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | cut -d' ' -f2-; grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}'; } | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/ *$//')
fetch() {
  left=$((${APT_DEADLINE:-3600} - ($(date +%s) - start)))
  [ "$left" -gt 0 ] || left=1
  timeout -k 5 "$left" apt-get download -q -o APT::Sandbox::User=root \
    -o Acquire::http::Timeout="${APT_TIMEOUT:-30}" -o Acquire::https::Timeout="${APT_TIMEOUT:-30}" \
    -o Acquire::Retries="${APT_RETRIES:-2}" "$@" >&2
}
# One source package: fetched whole, checked, its members out, the package gone.
stream_one() {
  pkg=$1 file=$2 sum=$3 tarball=$4 prefix=$5 key=$6
  shift 6
  case "$file" in */* | .*) echo "nbdforge: refusing file name $file" >&2; exit 5 ;; esac
  (cd /stream && fetch "$pkg") || return $?
  if ! echo "$sum  /stream/$file" | sha256sum -c --status; then
    rm -f "/stream/$file"
    echo "nbdforge: $file does not match the archive's sha256 $sum; nothing extracted" >&2
    exit 8
  fi
  /usr/local/lib/nbdforge/extract-source.sh "/stream/$file" "$tarball" "$prefix" "/derived/src-$key" "$@"
  rm -f "/stream/$file"
}
rc=0
if [ $# -gt 0 ]; then (cd "${DEBS_DIR:-/debs}" && fetch "$@") || rc=$?; fi
if [ $rc -eq 0 ] && [ -n "${EXTRACT:-}" ]; then
  set -f
  list=$(printf '%s\n' "$EXTRACT")
  old_ifs=$IFS
  IFS='
'
  for line in $list; do
    IFS=$old_ifs
    # shellcheck disable=SC2086
    [ -z "$line" ] || stream_one $line || { rc=$?; break; }
  done
  IFS=$old_ifs
  set +f
  # shellcheck disable=SC2046
  set -- "$@" $(printf '%s\n' "$EXTRACT" | cut -d' ' -f1)
fi
case $rc in
0) exit 0 ;;
124 | 137)
  echo "nbdforge: apt-get download of $* from ${mirrors:-the configured mirror} did not finish within its deadline of ${APT_DEADLINE:-3600} s (the packages' size at the minimum rate, at least the --timeout floor); try another mirror in the host's apt sources, or allow more time with --timeout SECONDS (or NBDFORGE_TIMEOUT)" >&2
  exit 124 ;;
*)
  echo "nbdforge: apt-get download of $* from ${mirrors:-the configured mirror} failed (apt exit $rc; it waits ${APT_TIMEOUT:-30} s for a connection or data, ${APT_RETRIES:-2} retries); check that mirror or try another, or allow more time with --timeout SECONDS" >&2
  exit 1 ;;
esac
