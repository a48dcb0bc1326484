# install.sh's downloads (src/publish/dir/install-fetch.sh): put in place of @FUNCTIONS@ in install.sh
# by renderInstallSh, with install-checks.sh. POSIX sh (bash 4.2, dash, busybox ash).

ni_bytes() { set -- $(wc -c <"$1"); echo "$1"; }
# ni_hashes FILE...: the sha256 of each of src, index.json, nbd.ko, prepare-host.sh, proof.json given
# (in $NI_T) into ni_hs, ni_hi, ni_hk, ni_hp, ni_hf, one sha256sum for them all; a file that is not
# there (or empty) leaves its variable empty. 1 when sha256sum fails on the others.
ni_hashes() {
  ni_hs='' ni_hi='' ni_hk='' ni_hp='' ni_hf='' ni_there=''
  for ni_x; do [ ! -s "$NI_T/$ni_x" ] || ni_there="$ni_there $ni_x"; done
  [ -n "$ni_there" ] || return 0
  ni_sums=$(cd "$NI_T" && sha256sum $ni_there 2>/dev/null) || return 1
  set -- $ni_sums
  while [ $# -ge 2 ]; do
    case "$2" in src) ni_hs=$1 ;; index.json) ni_hi=$1 ;; nbd.ko) ni_hk=$1 ;; prepare-host.sh) ni_hp=$1 ;; proof.json) ni_hf=$1 ;; esac
    shift 2
  done
}

# ni_fetch REL OUT MAXBYTES [REL OUT MAXBYTES]... [-- REL OUT MAXBYTES...]: each REL from the http(s)
# URL or the local directory the index came from into $NI_T/OUT. curl fetches them all in one run (one
# start-up, one connection); wget and a local directory one at a time. Files after `--` (curl only)
# are wanted, not needed: one missing (an HTTP error, curl's exit 22, which is its last transfer's) or
# over its bound (then removed) fails nothing; any other failure (too slow, cut short) fails the run. Every download is capped whatever the server
# announces (or does not): curl's by the file-size limit (ulimit -f) of its run at the largest MAXBYTES,
# others by head -c at MAXBYTES+1; then each file is held to its own MAXBYTES. Bounded in time (curl:
# --max-time and a minimum speed; wget: a read timeout, two tries at most, and timeout(1) around it when
# the host has one), never retried without end. On failure NI_FAILED is the REL of the first file not fetched.
ni_fetch() {
  NI_FAILED=''
  ni_max=0 ni_args='' ni_list='' ni_opt='' ni_rels='' ni_wanted=''
  while [ $# -gt 0 ]; do
    [ "$1" != -- ] || { ni_wanted=1; shift; continue; }
    [ $# -ge 3 ] || break
    rm -f "$NI_T/$2"
    [ "$3" -le "$ni_max" ] || ni_max=$3
    ni_args="$ni_args -o $2 ${NI_FROM%/}/$1"
    if [ -n "$ni_wanted" ]; then ni_opt="$ni_opt $1 $2 $3"; else ni_list="$ni_list $1 $2 $3" ni_rels="$ni_rels${ni_rels:+, }${NI_FROM%/}/$1"; fi
    shift 3
  done
  case "$NI_FROM:$NI_DL" in
    http://*:curl | https://*:curl)
      # URLs and names hold no spaces or quotes (checked): split unquoted, never globbed. With wanted
      # files, curl's complaints (a 404 for each one missing) are shown only when a needed file failed.
      ( cd "$NI_T" && set -f && { [ -z "$ni_opt" ] || exec 2>curl.err; } \
        && { ulimit -f $((ni_max / 512 + 2)) 2>/dev/null || [ "$(ulimit -f)" != unlimited ] || exit 125; } \
        && exec curl -fsSL --proto '=http,https' --proto-redir '=http,https' --max-filesize "$ni_max" --max-time "$NI_MAXT" \
          --connect-timeout "$NI_WAIT" --speed-limit 1024 --speed-time "$NI_WAIT" $ni_args </dev/null )
      ni_rc=$?
      ni_check $ni_list ${ni_opt:+-- $ni_opt} || return 1
      if [ -z "$NI_FAILED" ] && { [ "$ni_rc" = 0 ] || { [ -n "$ni_opt" ] && [ "$ni_rc" = 22 ]; }; }; then return 0; fi
      [ -z "$ni_opt" ] || while read -r ni_l; do ni_say "$ni_l"; done <"$NI_T/curl.err"
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

# ni_check (REL OUT MAXBYTES)... [-- (REL OUT MAXBYTES)...]: none is over its MAXBYTES (one wc for them
# all, its lines kept in NI_SIZES for ni_size); NI_FAILED is the first needed one missing or empty (a
# wanted one, after --, over its bound is removed quietly).
ni_check() {
  ni_here=''
  ni_i=0
  for ni_x; do
    [ "$ni_x" != -- ] || { ni_i=0; continue; }
    ni_i=$((ni_i + 1))
    [ $((ni_i % 3)) = 2 ] || continue
    if [ -s "$NI_T/$ni_x" ]; then ni_here="$ni_here $ni_x"; fi
  done
  NI_SIZES=''
  [ -z "$ni_here" ] || NI_SIZES=$(cd "$NI_T" && wc -c $ni_here) || return 1
  ni_wanted=''
  while [ $# -ge 3 ]; do
    if [ "$1" = -- ]; then ni_wanted=1; shift; continue; fi
    if ni_size "$2"; then
      if [ "$ni_n" -gt "$3" ]; then
        rm -f "$NI_T/$2"
        [ -n "$ni_wanted" ] || { ni_say "${NI_FROM%/}/$1: more than the $3 bytes expected; refusing the rest"; NI_FAILED=$1; return 1; }
      fi
    else
      [ -n "$ni_wanted" ] || [ -n "$NI_FAILED" ] || NI_FAILED=$1
    fi
    shift 3
  done
  [ -z "$NI_FAILED" ] || [ "$ni_rc" != 0 ] || [ -n "$ni_wanted" ] || { ni_say "cannot download ${NI_FROM%/}/$NI_FAILED (empty)"; return 1; }
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
    curl:0) ni_say "cannot download $1 (missing or empty)" ;;
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
