#!/bin/sh
# Usage: fetch.sh name=version ...   Downloads .deb files into /debs (the host's cache) with apt.
# Bounds from the host (src/families/debian12/apt-bounds.ts; --timeout, NBDFORGE_TIMEOUT):
#   APT_TIMEOUT   seconds apt waits to connect or for data (Acquire::http::Timeout)
#   APT_RETRIES   further tries per file (Acquire::Retries), all inside APT_DEADLINE
#   APT_DEADLINE  seconds for the whole download: the packages' size at the minimum rate, at least the floor
set -eu
cd "${DEBS_DIR:-/debs}"
mirrors=$({ grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | cut -d' ' -f2-; grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}'; } | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/ *$//')
rc=0
timeout -k 5 "${APT_DEADLINE:-3600}" apt-get download -q -o APT::Sandbox::User=root \
  -o Acquire::http::Timeout="${APT_TIMEOUT:-30}" -o Acquire::https::Timeout="${APT_TIMEOUT:-30}" \
  -o Acquire::Retries="${APT_RETRIES:-2}" "$@" >&2 || rc=$?
case $rc in
0) exit 0 ;;
124 | 137)
  echo "nbdforge: apt-get download of $* from ${mirrors:-the configured mirror} did not finish within its deadline of ${APT_DEADLINE:-3600} s (the packages' size at the minimum rate, at least the --timeout floor); try another mirror in the host's apt sources, or allow more time with --timeout SECONDS (or NBDFORGE_TIMEOUT)" >&2
  exit 124 ;;
*)
  echo "nbdforge: apt-get download of $* from ${mirrors:-the configured mirror} failed (apt exit $rc; it waits ${APT_TIMEOUT:-30} s for a connection or data, ${APT_RETRIES:-2} retries); check that mirror or try another, or allow more time with --timeout SECONDS" >&2
  exit 1 ;;
esac
