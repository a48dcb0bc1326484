# install.sh's downloads (src/publish/dir/install-fetch.sh): put in place of @FUNCTIONS@ in install.sh
# by renderInstallSh, with install-checks.sh. POSIX sh (bash 4.2, dash, busybox ash).

ni_bytes() { set -- $(wc -c <"$1"); echo "$1"; }
# ni_hashes FILE...: the sha256 of each file (names relative to $NI_T), one sha256sum for them all,
# into ni_h1, ni_h2, ... in order; 1 when any is unreadable.
ni_hashes() {
  ni_sums=$(cd "$NI_T" && sha256sum "$@" 2>/dev/null) || return 1
  set -- $ni_sums
  ni_i=1
  while [ $# -ge 2 ]; do eval "ni_h$ni_i=\$1"; ni_i=$((ni_i + 1)); shift 2; done
}

# ni_fetch REL OUT MAXBYTES [REL OUT MAXBYTES]...: each REL from the http(s) URL or the local directory
# the index came from into $NI_T/OUT. curl fetches them all in one run (one start-up, one connection);
# wget and a local directory one at a time. Every download is capped whatever the server announces (or
# does not): curl's by the file-size limit (ulimit -f) of its run at the largest MAXBYTES, others by
# head -c at MAXBYTES+1; then each file is held to its own MAXBYTES. Bounded in time (curl: --max-time
# and a minimum speed; wget: a read timeout, two tries at most, and timeout(1) around it when the host
# has one), never retried without end. On failure NI_FAILED is the REL of the first file not fetched.
ni_fetch() {
  NI_FAILED=''
  ni_max=0 ni_args='' ni_list='' ni_rels=''
  while [ $# -ge 3 ]; do
    rm -f "$NI_T/$2"
    [ "$3" -le "$ni_max" ] || ni_max=$3
    ni_args="$ni_args -o $2 ${NI_FROM%/}/$1"
    ni_list="$ni_list $1 $2 $3"
    ni_rels="$ni_rels${ni_rels:+, }${NI_FROM%/}/$1"
    shift 3
  done
  case "$NI_FROM:$NI_DL" in
    http://*:curl | https://*:curl)
      # URLs and names hold no spaces or quotes (checked): split unquoted, never globbed
      ( cd "$NI_T" && set -f \
        && { ulimit -f $((ni_max / 512 + 2)) 2>/dev/null || [ "$(ulimit -f)" != unlimited ] || exit 125; } \
        && exec curl -fsSL --proto '=http,https' --proto-redir '=http,https' --max-filesize "$ni_max" --max-time "$NI_MAXT" \
          --connect-timeout "$NI_WAIT" --speed-limit 1024 --speed-time "$NI_WAIT" $ni_args </dev/null )
      ni_rc=$?
      ni_check $ni_list || return 1
      [ "$ni_rc" = 0 ] && return 0
      if [ -n "$NI_FAILED" ]; then ni_failed "${NI_FROM%/}/$NI_FAILED" "$ni_rc"; else ni_failed "$ni_rels" "$ni_rc"; set -- $ni_list; NI_FAILED=$1; fi
      return 1
      ;;
    *)
      set -- $ni_list
      while [ $# -ge 3 ]; do
        ni_fetch1 "$@" || { NI_FAILED=$1; return 1; }
        shift 3
      done
      ni_rc=0
      ni_check $ni_list
      ;;
  esac
}

# ni_check (REL OUT MAXBYTES)...: none is over its MAXBYTES (one wc for them all, its lines kept in
# NI_SIZES for ni_size); NI_FAILED is the first missing or empty.
ni_check() {
  ni_here=''
  ni_i=0
  for ni_x in "$@"; do
    ni_i=$((ni_i + 1))
    [ $((ni_i % 3)) = 2 ] || continue
    if [ -s "$NI_T/$ni_x" ]; then ni_here="$ni_here $ni_x"; fi
  done
  NI_SIZES=''
  [ -z "$ni_here" ] || NI_SIZES=$(cd "$NI_T" && wc -c $ni_here) || return 1
  while [ $# -ge 3 ]; do
    if ni_size "$2"; then
      [ "$ni_n" -le "$3" ] || { ni_say "${NI_FROM%/}/$1: more than the $3 bytes expected; refusing the rest"; rm -f "$NI_T/$2"; NI_FAILED=$1; return 1; }
    else
      [ -n "$NI_FAILED" ] || NI_FAILED=$1
    fi
    shift 3
  done
  [ -z "$NI_FAILED" ] || [ "$ni_rc" != 0 ] || { ni_say "cannot download ${NI_FROM%/}/$NI_FAILED (empty)"; return 1; }
}

# ni_size OUT: ni_n = the size of $NI_T/OUT as the last ni_check counted it; 1 if it did not.
ni_size() {
  set -- "$1" $NI_SIZES
  ni_o=$1
  shift
  while [ $# -ge 2 ]; do
    [ "$2" != "$ni_o" ] || { ni_n=$1; return 0; }
    shift 2
  done
  return 1
}

ni_failed() {
  case $NI_DL:$2 in
    curl:28 | wget:124 | wget:143) ni_say "cannot download $1: too slow (below 1 KiB/s for $NI_WAIT s) or not done within $NI_MAXT s; another mirror, or NBDFORGE_TIMEOUT=SECONDS for a longer bound" ;;
    *) ni_say "cannot download $1 ($NI_DL exit ${2:-?})" ;;
  esac
}

# ni_fetch1 REL OUT MAXBYTES: one file by wget (capped by head -c at MAXBYTES+1) or from a directory.
ni_fetch1() {
  rm -f "$NI_T/$2" "$NI_T/rc"
  ni_cap=$(($3 + 1))
  ni_u="${NI_FROM%/}/$1"
  case "$NI_FROM" in
    http://* | https://*)
      { $NI_TIMEOUT wget -q $NI_WGET_OPTS -O - "$ni_u" </dev/null; echo $? >"$NI_T/rc"; } | head -c "$ni_cap" >"$NI_T/$2"
      ni_n=$(ni_bytes "$NI_T/$2")
      [ "$ni_n" -le "$3" ] || { ni_say "$ni_u: more than the $3 bytes expected; refusing the rest"; rm -f "$NI_T/$2"; return 1; }
      read -r ni_rc <"$NI_T/rc" 2>/dev/null || ni_rc=''
      [ "$ni_rc" = 0 ] || { rm -f "$NI_T/$2"; ni_failed "$ni_u" "$ni_rc"; return 1; }
      ;;
    *) head -c "$ni_cap" <"$ni_u" >"$NI_T/$2" || return 1 ;;
  esac
  ni_n=$(ni_bytes "$NI_T/$2")
  [ "$ni_n" -le "$3" ] || { ni_say "$ni_u: more than the $3 bytes expected"; rm -f "$NI_T/$2"; return 1; }
}
