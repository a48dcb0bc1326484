#!/bin/sh
# nbdforge kernel hook: keeps nbd.ko for every kernel this host installs. Written by
# `nbdforge prepare-host` (see docs/prepare-host.md, "At a kernel update"); configuration in
# /etc/nbdforge/kernel-hook.conf, one record per kernel in /var/lib/nbdforge/kernels/.
#
#   /etc/kernel/postinst.d/nbdforge-nbd VERSION [IMAGE]   (Debian: run-parts; CentOS 7: new-kernel-pkg)
#       fetch the artifact for VERSION from the recorded source, check it as prepare-host does
#       (index signature or pin, size, sha256, manifest, vermagic), install it into
#       /lib/modules/VERSION/extra/, depmod -a VERSION. Never loads it. On el families, when the
#       source has no artifact for VERSION, link another kernel's (same el point release) into
#       weak-updates/ if every CRC it imports matches /boot/symvers-VERSION.gz.
#   /etc/kernel/postrm.d/nbdforge-nbd VERSION [IMAGE]     remove what this hook installed for VERSION
#   nbdforge-nbd --boot      (the guard unit) for `uname -r`: install if missing, then modprobe nbd
#   nbdforge-nbd --purge     remove every module this hook installed, and its records
#   nbdforge-nbd --status    one line per kernel under /lib/modules
#
# It runs inside dpkg's or rpm's transaction: it never calls apt, dpkg, yum or rpm, downloads are
# bounded in time, and it ALWAYS exits 0 (a failing hook would fail the kernel's installation);
# what it did goes to stderr and to the kernel's record. Only --boot exits 1, when nbd cannot load.
# POSIX sh: dash, busybox sh, bash 4.2.

PATH=$PATH:/usr/sbin:/usr/bin:/sbin:/bin; export PATH
LC_ALL=C; export LC_ALL
NK_ROOT=${NBDFORGE_ROOT:-}
NK_CONF=$NK_ROOT/etc/nbdforge/kernel-hook.conf
NK_STATE=$NK_ROOT/var/lib/nbdforge/kernels
NK_T=''

nk_say() { printf '[nbdforge hook] %s\n' "$*" >&2; }
nk_hash() { nk_h=$(sha256sum "$1" 2>/dev/null) || return 1; printf '%s\n' "${nk_h%% *}"; }
nk_bytes() { set -- $(wc -c <"$1"); echo "$1"; }
nk_hex64() { case "$1" in *[!0-9a-f]* | '') return 1 ;; esac; [ ${#1} -eq 64 ]; }
nk_relpath() { case "$1" in /* | *..* | *[!A-Za-z0-9._+/-]* | '') return 1 ;; esac; }
nk_release() { case "$1" in *[!A-Za-z0-9._+-]* | '' | .*) return 1 ;; esac; }
# nk_conf KEY: a value of the configuration file (KEY='value' lines; values never hold a quote)
nk_conf() { sed -n "s/^$1='\\(.*\\)'\$/\\1/p" "$NK_CONF" 2>/dev/null | head -n 1; }
# Tools by their path: busybox sh would run its own applets before $PATH's kmod otherwise.
nk_which() {
  nk_ifs=$IFS; IFS=:
  for nk_d in $PATH; do if [ -x "$nk_d/$1" ] && [ ! -d "$nk_d/$1" ]; then IFS=$nk_ifs; echo "$nk_d/$1"; return 0; fi; done
  IFS=$nk_ifs; echo "$1"
}
nk_now() { date -u +%Y-%m-%dT%H:%M:%SZ 2>/dev/null; }

# The record of what the hook installed for a kernel ($NK_STATE/VERSION, read by postrm and --status)
# and the last outcome ($NK_STATE/VERSION.last), kept apart so an unreachable source never makes
# postrm forget a module it installed.
nk_own() {
  nk_v=$1; shift
  mkdir -p "$NK_STATE" && { for nk_kv; do printf '%s\n' "$nk_kv"; done; echo "at=$(nk_now)"; } >"$NK_STATE/$nk_v.new" && mv -f "$NK_STATE/$nk_v.new" "$NK_STATE/$nk_v"
}
nk_outcome() {
  mkdir -p "$NK_STATE" 2>/dev/null && printf 'outcome=%s\nmessage=%s\nat=%s\n' "$2" "$3" "$(nk_now)" >"$NK_STATE/$1.last" 2>/dev/null
  nk_say "$1: $3"
}
nk_state() { sed -n "s/^$2=//p" "$NK_STATE/$1" 2>/dev/null | head -n 1; }

# nk_fetch REL OUT MAXBYTES: bounded download from the recorded source (or copy from a local store).
# Capped at MAXBYTES+1 by head -c whether or not the server sends a Content-Length (curl's
# --max-filesize alone cannot stop an endless body), and in time: NBDFORGE_TIMEOUT seconds at most
# (default 120), and under 1 KiB/s for 20 s (or the whole bound, if shorter) ends it. A hook runs
# inside the package manager's transaction: it must never hold it for long.
nk_fetch() {
  rm -f "$2" "$NK_T/rc"
  nk_u="${NK_FROM%/}/$1"
  nk_cap=$(($3 + 1))
  nk_maxt=${NBDFORGE_TIMEOUT:-120}
  case $nk_maxt in '' | *[!0-9]* | 0*) nk_maxt=120 ;; esac
  nk_wait=20; [ "$nk_maxt" -lt 20 ] && nk_wait=$nk_maxt
  case "$NK_FROM" in
    http://* | https://*)
      if [ "${NBDFORGE_DOWNLOADER:-}" != wget ] && command -v curl >/dev/null 2>&1; then
        nk_dl=curl
        { curl -fsS --proto '=http,https' --proto-redir '=http,https' --connect-timeout "$nk_wait" --max-time "$nk_maxt" \
            --speed-limit 1024 --speed-time "$nk_wait" --max-filesize "$3" "$nk_u" </dev/null 2>"$NK_T/fetch.err"; echo $? >"$NK_T/rc"; } | head -c "$nk_cap" >"$2"
      elif command -v wget >/dev/null 2>&1; then
        nk_dl=wget
        # GNU wget retries 20 times by default: bound it. busybox wget tries once, and its -T
        # crashes (1.35, Debian 12): timeout(1) bounds it from outside (coreutils exits 124, busybox 143).
        nk_to=; command -v timeout >/dev/null 2>&1 && nk_to="timeout $nk_maxt"
        if wget --help 2>&1 | grep -q -e '--tries'; then
          { $nk_to wget -q -T "$nk_wait" -t 2 -O - "$nk_u" </dev/null 2>"$NK_T/fetch.err"; echo $? >"$NK_T/rc"; } | head -c "$nk_cap" >"$2"
        else
          { $nk_to wget -q -O - "$nk_u" </dev/null 2>"$NK_T/fetch.err"; echo $? >"$NK_T/rc"; } | head -c "$nk_cap" >"$2"
        fi
      else
        echo "neither curl nor wget is installed" >"$NK_T/fetch.err"; echo 127 >"$NK_T/rc"
      fi
      nk_n=$(nk_bytes "$2")
      [ "$nk_n" -le "$3" ] || { rm -f "$2"; NK_WHY="$nk_u: more than the $3 bytes allowed; refusing the rest"; return 1; }
      nk_rc=$(cat "$NK_T/rc" 2>/dev/null)
      if [ "$nk_rc" != 0 ]; then
        rm -f "$2"
        case ${nk_dl:-}:$nk_rc in
          curl:28 | wget:124 | wget:143) NK_WHY="cannot download $nk_u: too slow (below 1 KiB/s for $nk_wait s) or not done within $nk_maxt s" ;;
          *) NK_WHY="cannot download $nk_u: $(tail -n 1 "$NK_T/fetch.err" 2>/dev/null)" ;;
        esac
        return 1
      fi
      ;;
    *) cp "$nk_u" "$2" </dev/null 2>"$NK_T/fetch.err" || { NK_WHY="cannot read $nk_u"; return 1; } ;;
  esac
  nk_n=$(nk_bytes "$2")
  [ "$nk_n" -le "$3" ] || { rm -f "$2"; NK_WHY="$nk_u: $nk_n bytes, more than the $3 allowed"; return 1; }
}

# The same chain install.sh and prepare-host --from URL check: a pinned index sha256, or a detached
# signature by the pinned key, or the loud opt-out; a local store is the owner's own directory.
nk_verify_index() {
  if [ -n "$NK_PIN" ]; then
    nk_s=$(nk_hash "$NK_T/index.json")
    [ "$nk_s" = "$NK_PIN" ] || { NK_WHY="index.json has sha256 $nk_s, not the $NK_PIN prepare-host pinned (a pinned index never lists new kernels: re-run prepare-host with --fingerprint)"; return 1; }
    return 0
  fi
  if [ -n "$NK_FPR" ]; then
    command -v gpgv >/dev/null 2>&1 || { NK_WHY="gpgv is needed to verify index.json (install gpgv or gnupg2)"; return 1; }
    nk_fetch index.json.sig "$NK_T/index.json.sig" 65536 || return 1
    nk_fetch signing-key.gpg "$NK_T/key.gpg" 1048576 || return 1
    mkdir -p "$NK_T/gnupg" && chmod 700 "$NK_T/gnupg"
    gpgv --homedir "$NK_T/gnupg" --status-fd 1 --keyring "$NK_T/key.gpg" "$NK_T/index.json.sig" "$NK_T/index.json" \
      >"$NK_T/gpgv.status" 2>"$NK_T/gpgv.err" </dev/null
    nk_rc=$?
    nk_signer=$(sed -n 's/^\[GNUPG:\] VALIDSIG .* \([0-9A-Fa-f]\{40\}\)$/\1/p' "$NK_T/gpgv.status" | head -n 1)
    if [ "$nk_rc" != 0 ] || grep -Eq '^\[GNUPG:\] (BADSIG|ERRSIG|EXPSIG|EXPKEYSIG|REVKEYSIG|NO_PUBKEY|NODATA)' "$NK_T/gpgv.status" || [ -z "$nk_signer" ]; then
      NK_WHY="the signature of index.json does not verify: $(tail -n 1 "$NK_T/gpgv.err")"; return 1
    fi
    [ "$nk_signer" = "$NK_FPR" ] || { NK_WHY="index.json is signed by $nk_signer, not by the pinned $NK_FPR"; return 1; }
    return 0
  fi
  case "$NK_FROM" in
    http://* | https://*)
      [ "$NK_INSECURE" = 1 ] || { NK_WHY="no pin and no key recorded for $NK_FROM"; return 1; }
      nk_say "WARNING: index.json from $NK_FROM is NOT verified (prepare-host ran with NBDFORGE_INSECURE_NO_SIGNATURE=1)"
      ;;
  esac
  return 0
}

# Rollback protection, called with the verified index at $NK_T/index.json: a published site's index
# carries "serial" and "expires" (nbdforge publish --valid-for); the highest serial accepted per
# source is kept in $NK_ROOT${NBDFORGE_STATE_DIR:-/var/lib/nbdforge}/serials/ (install.sh's and prepare-host's
# file); it refuses an older serial or an expired index (NK_REFUSED=1, NK_WHY) and records a newer one.
nk_fresh() {
  nk_head=$(head -n 1 "$NK_T/index.json")
  # a store's own index (a directory or an http store) has no serial; a published site's does
  case $nk_head in *'"format":"nbdforge-dir"'*) ;; *) return 0 ;; esac
  nk_serial=$(printf '%s\n' "$nk_head" | sed -n 's/.*"serial":\([0-9][0-9]*\)[,}].*/\1/p')
  nk_expires=$(printf '%s\n' "$nk_head" | sed -n 's/.*"expires":\([0-9][0-9]*\)[,}].*/\1/p')
  if [ -z "$nk_serial" ] || [ -z "$nk_expires" ] || [ ${#nk_serial} -gt 15 ] || [ ${#nk_expires} -gt 15 ]; then
    NK_WHY="index.json carries no serial and expiry (an old or replayed tree): refused"; NK_REFUSED=1; return 1
  fi
  nk_now=$(date +%s)
  case $nk_now in '' | *[!0-9]*) NK_WHY="cannot read the clock"; return 1 ;; esac
  if [ "$nk_now" -ge "$nk_expires" ]; then
    NK_WHY="index.json (serial $nk_serial) expired: the publisher must publish again (nbdforge publish --valid-for DAYS); refused"; NK_REFUSED=1; return 1
  fi
  nk_src=$NK_FROM
  while :; do case $nk_src in */) nk_src=${nk_src%/} ;; *) break ;; esac; done
  nk_id=$(printf '%s' "$nk_src" | sha256sum) || { NK_WHY="sha256sum failed"; return 1; }
  # the same file install.sh and prepare-host --from keep: one highest serial per source
  nk_sf="$NK_ROOT${NBDFORGE_STATE_DIR:-/var/lib/nbdforge}/serials/${nk_id%% *}"
  nk_seen=''
  [ ! -f "$nk_sf" ] || read -r nk_seen nk_rest <"$nk_sf" || :
  case $nk_seen in *[!0-9]*) NK_WHY="$nk_sf is damaged; remove it to trust $nk_src afresh: refused"; NK_REFUSED=1; return 1 ;; esac
  if [ -n "$nk_seen" ] && [ "$nk_serial" -lt "$nk_seen" ]; then
    NK_WHY="index.json has serial $nk_serial, older than serial $nk_seen this host already accepted from $nk_src (an older tree served again): refused"; NK_REFUSED=1; return 1
  fi
  if [ -z "$nk_seen" ] || [ "$nk_serial" -gt "$nk_seen" ]; then
    { mkdir -p "${nk_sf%/*}" && printf '%s %s\n' "$nk_serial" "$nk_src" >"$nk_sf.new" && mv -f "$nk_sf.new" "$nk_sf"; } 2>/dev/null || :
  fi
  return 0
}

# One line per artifact, whatever the index's layout (a store's pretty-printed JSON or a published
# directory's one-line entries); entries never hold braces.
nk_entries() { tr -d '\n' <"$NK_T/index.json" | tr '}' '\n' | sed 's/" *: */":/g; s/, *"/,"/g' >"$NK_T/entries"; }
nk_field() { printf '%s\n' "$1" | sed -n "s/.*\"$2\":\"\\{0,1\\}\\([^\",]*\\).*/\\1/p"; }
nk_entry() { grep -F "\"kernelRelease\":\"$1\"," "$NK_T/entries" | grep -F '"module":"nbd"'; }

# nk_get_index: index fetched, verified, fresh, split into entries; NK_WHY says why not.
nk_get_index() {
  [ -n "$NK_INDEX_OK" ] && return 0
  nk_fetch index.json "$NK_T/index.json" 16777216 || return 1
  nk_verify_index || return 1
  nk_fresh || return 1
  nk_entries
  NK_INDEX_OK=1
}

# nk_artifact LINE OUT: download one entry's module and check it: manifest (pinned by the index
# where published, every build check passed), size, sha256, vermagic. Sets NK_SHA and NK_VERMAGIC.
nk_artifact() {
  nk_dir=$(nk_field "$1" dir); nk_file=$(nk_field "$1" file); NK_SHA=$(nk_field "$1" sha256)
  NK_VERMAGIC=$(nk_field "$1" vermagic); NK_VERMAGIC=$(echo $NK_VERMAGIC)
  nk_path=$(nk_field "$1" path); nk_size=$(nk_field "$1" size); nk_msha=$(nk_field "$1" manifestSha256)
  [ -n "$nk_path" ] || nk_path="$nk_dir/$nk_file"
  nk_relpath "$nk_dir" && nk_relpath "$nk_path" && nk_hex64 "$NK_SHA" && [ -n "$NK_VERMAGIC" ] \
    && case "$nk_size" in *[!0-9]*) false ;; esac || { NK_WHY="the index's entry is malformed"; return 1; }
  nk_fetch "$nk_dir/manifest.json" "$NK_T/manifest.json" 1048576 || return 1
  if [ -n "$nk_msha" ]; then
    nk_s=$(nk_hash "$NK_T/manifest.json")
    [ "$nk_s" = "$nk_msha" ] || { NK_WHY="$nk_dir/manifest.json: sha256 $nk_s, the index says $nk_msha"; return 1; }
  fi
  if tr -d ' \n' <"$NK_T/manifest.json" | grep -q '"ok":false'; then NK_WHY="$nk_dir/manifest.json records a failed build check"; return 1; fi
  nk_fetch "$nk_path" "$2" "${nk_size:-67108864}" || return 1
  nk_n=$(nk_bytes "$2")
  [ -z "$nk_size" ] || [ "$nk_n" -eq "$nk_size" ] || { NK_WHY="$nk_path: $nk_n bytes, the index says $nk_size"; return 1; }
  nk_s=$(nk_hash "$2")
  [ "$nk_s" = "$NK_SHA" ] || { NK_WHY="$nk_path: sha256 $nk_s, the index says $NK_SHA"; return 1; }
  nk_got=$(nk_vermagic_of "$2")
  [ "$nk_got" = "$NK_VERMAGIC" ] || { NK_WHY="$nk_path: vermagic \"$nk_got\", the index says \"$NK_VERMAGIC\""; return 1; }
  nk_proof "$1"
}

# nk_proof LINE: with NBDFORGE_REQUIRE_PROOF=1 (prepare-host --require-proof), the module must have
# been proven in its own kernel: the manifest (pinned by the signed index where published) names
# proof.json's sha256, the index agrees where it names one, and the file hashes to it, verdict
# proven, of this module's sha256. Sets NK_PROVEN for the outcome line.
nk_proof() {
  NK_PROVEN=''
  [ "$NK_REQUIRE_PROOF" = 1 ] || return 0
  nk_psha=$(tr -d ' \n' <"$NK_T/manifest.json" | sed -n 's/.*"proof":{"file":"proof\.json","sha256":"\([0-9a-f]*\)"}.*/\1/p')
  nk_hex64 "$nk_psha" || { NK_WHY="$nk_dir is not proven in its own kernel (its manifest names no proof.json) and require_proof is on"; return 1; }
  nk_isha=$(nk_field "$1" proofSha256)
  [ -z "$nk_isha" ] || [ "$nk_isha" = "$nk_psha" ] || { NK_WHY="$nk_dir: the index names proof sha256 $nk_isha, the manifest $nk_psha"; return 1; }
  nk_fetch "$nk_dir/proof.json" "$NK_T/proof.json" 262144 || return 1
  nk_s=$(nk_hash "$NK_T/proof.json")
  [ "$nk_s" = "$nk_psha" ] || { NK_WHY="$nk_dir/proof.json: sha256 $nk_s, the manifest says $nk_psha"; return 1; }
  tr -d ' \n' <"$NK_T/proof.json" | grep -q "\"verdict\":\"proven\"" && tr -d ' \n' <"$NK_T/proof.json" | grep -q "\"module\":{[^}]*\"sha256\":\"$NK_SHA\"" \
    || { NK_WHY="$nk_dir/proof.json does not prove this module (sha256 $NK_SHA)"; return 1; }
  NK_PROVEN="; proof.json checked (sha256 $nk_psha)"
}

# what modinfo -F vermagic prints, read without modinfo (busybox's wants a modules.dep)
nk_vermagic_of() { nk_vm=$(tr '\0' '\n' <"$1" | sed -n 's/^vermagic=//p' | head -n 1); echo $nk_vm; }

# The vermagic of a module the kernel itself ships (after its release word), when one is readable.
nk_kernel_vermagic() {
  nk_ref=$(find "$1/kernel" -name '*.ko*' -type f 2>/dev/null | head -n 1)
  [ -n "$nk_ref" ] || return 0
  case "$nk_ref" in *.ko) nk_vermagic_of "$nk_ref" ;; *) nk_vm=$("$NK_MODINFO" -F vermagic "$nk_ref" 2>/dev/null); echo $nk_vm ;; esac
}

nk_install() {
  V=$1; M=$NK_ROOT/lib/modules/$V; F=$M/extra/nbd.ko
  [ -d "$M" ] || { nk_outcome "$V" no-tree "no $M: kernel $V is not installed here"; return 0; }
  if grep -q '/nbd\.ko' "$M/modules.builtin" 2>/dev/null || [ -n "$(find "$M/kernel" -name 'nbd.ko*' 2>/dev/null | head -n 1)" ]; then
    nk_outcome "$V" shipped "kernel $V ships its own nbd: nothing to do"; return 0
  fi
  if ! nk_get_index; then
    if [ "${NK_REFUSED:-0}" = 1 ]; then nk_outcome "$V" refused "$NK_WHY; nothing installed for $V"
    elif [ -f "$F" ] || [ -L "$M/weak-updates/nbd.ko" ]; then nk_outcome "$V" unreachable "source unreachable ($NK_WHY); the module already there is kept"
    else nk_outcome "$V" unreachable "source unreachable: $NK_WHY; no nbd for $V until it is back (run: $0 $V)"; fi
    return 0
  fi
  nk_line=$(nk_entry "$V")
  if [ -z "$nk_line" ]; then nk_reuse "$V"; return 0; fi
  [ "$(printf '%s\n' "$nk_line" | wc -l)" -eq 1 ] || { nk_outcome "$V" refused "the index lists kernel $V more than once; refused"; return 0; }
  nk_want=$(nk_field "$nk_line" sha256)
  if [ -f "$F" ] && [ "$(nk_hash "$F")" = "$nk_want" ]; then
    nk_outcome "$V" already "already there: $F is the artifact (sha256 $nk_want)"; return 0
  fi
  if [ -e "$F" ] && [ "$(nk_state "$V" sha256)" != "$(nk_hash "$F")" ]; then
    nk_outcome "$V" refused "$F exists and is not ours (sha256 $(nk_hash "$F")); left alone"; return 0
  fi
  nk_artifact "$nk_line" "$NK_T/nbd.ko" || { nk_outcome "$V" refused "artifact for $V refused: $NK_WHY"; return 0; }
  case "$NK_VERMAGIC" in "$V "*) ;; *) nk_outcome "$V" refused "the artifact for $V is built for ${NK_VERMAGIC%% *}; refused"; return 0 ;; esac
  nk_kv=$(nk_kernel_vermagic "$M")
  if [ -n "$nk_kv" ] && [ "$nk_kv" != "$NK_VERMAGIC" ]; then nk_outcome "$V" refused "vermagic \"$NK_VERMAGIC\" differs from \"$nk_kv\" of kernel $V's own modules; refused"; return 0; fi
  nk_made=0; [ -d "$M/extra" ] || nk_made=1
  nk_stage="$NK_ROOT/lib/modules/.nbd-$V.nbdforge-hook.ko"
  mkdir -p "$M/extra" && cp "$NK_T/nbd.ko" "$nk_stage" && mv -f "$nk_stage" "$F" \
    || { rm -f "$nk_stage"; nk_outcome "$V" failed "cannot write $F"; return 0; }
  nk_own "$V" how=exact file="$F" sha256="$NK_SHA" madedir="$nk_made" source="$NK_FROM"
  # prepare-host refuses an unsigned module where signatures are enforced; here the kernel is not
  # running yet, so the module is installed and the reason it would not load is said now
  nk_note=''
  if [ "$(cat "$NK_ROOT/sys/module/module/parameters/sig_enforce" 2>/dev/null)" = Y ] && ! tail -c 28 "$F" | grep -q 'Module signature appended'; then
    nk_note='; WARNING: the module is unsigned and this host enforces module signatures: it will not load (build with --sign-key/--sign-cert)'
  fi
  if "$NK_DEPMOD" -a "$V" 2>"$NK_T/depmod.err"; then
    nk_outcome "$V" installed "installed $F (sha256 $NK_SHA, vermagic \"$NK_VERMAGIC\")$NK_PROVEN; depmod done; not loaded (boot kernel $V to use it)$nk_note"
  else
    nk_outcome "$V" depmod-failed "installed $F but depmod -a $V failed: $(tail -n 1 "$NK_T/depmod.err")"
  fi
}

# kABI reuse (el families only, as weak-modules does): an artifact built for another kernel of the
# same el point release, already installed here and matching its index entry, is linked into
# weak-updates/ when every symbol it imports has the same CRC in /boot/symvers-VERSION.gz.
nk_reuse() {
  V=$1; M=$NK_ROOT/lib/modules/$V
  nk_have=$(sed -n 's/.*"kernelRelease":"\([^"]*\)".*/\1/p' "$NK_T/entries" | tr '\n' ' ')
  nk_have=${nk_have% }
  nk_none="no module for $V yet at $NK_FROM (it has: ${nk_have:-nothing}); build it with: nbdforge matrix --missing, or nbdforge build --kernel $V"
  case "$NK_FAMILY" in el*) ;; *) nk_outcome "$V" missing "$nk_none"; return 0 ;; esac
  [ "$NK_REQUIRE_PROOF" != 1 ] || { nk_outcome "$V" missing "$nk_none (require_proof is on: a module reused from another kernel is not proven in $V)"; return 0; }
  nk_sv="$NK_ROOT/boot/symvers-$V.gz"
  [ -r "$nk_sv" ] || { nk_outcome "$V" missing "$nk_none; no $nk_sv to check a reuse against"; return 0; }
  nk_point=$(nk_point "$V")
  gzip -dc "$nk_sv" >"$NK_T/symvers" 2>/dev/null || { nk_outcome "$V" missing "$nk_none; $nk_sv is unreadable"; return 0; }
  nk_kv=$(nk_kernel_vermagic "$M")
  nk_tried=''
  for K in $nk_have; do
    [ "$K" != "$V" ] && [ "$(nk_point "$K")" = "$nk_point" ] || continue
    nk_line=$(nk_entry "$K"); [ -n "$nk_line" ] || continue
    [ "$(nk_field "$nk_line" family)" = "$NK_FAMILY" ] || continue
    nk_src="$NK_ROOT/lib/modules/$K/extra/nbd.ko"
    [ -f "$nk_src" ] && [ "$(nk_hash "$nk_src")" = "$(nk_field "$nk_line" sha256)" ] || { nk_tried="$nk_tried $K (not installed here)"; continue; }
    nk_vm=$(nk_vermagic_of "$nk_src")
    if [ -n "$nk_kv" ] && [ "${nk_vm#* }" != "${nk_kv#* }" ]; then nk_tried="$nk_tried $K (vermagic \"${nk_vm#* }\" vs \"${nk_kv#* }\")"; continue; fi
    "$NK_MODPROBE" --dump-modversions "$nk_src" >"$NK_T/versions" 2>/dev/null && [ -s "$NK_T/versions" ] \
      || { nk_tried="$nk_tried $K (no __versions readable)"; continue; }
    nk_bad=$(awk 'function n(x) { x = tolower(x); sub(/^0x0*/, "", x); return x }
      NR == FNR { c[$2] = $1; next }
      !($2 in c) { print $2 " (not exported by the new kernel)"; exit }
      n(c[$2]) != n($1) { print $2 " (CRC " $1 " in the module, " c[$2] " in symvers)"; exit }' "$NK_T/symvers" "$NK_T/versions")
    if [ -n "$nk_bad" ]; then nk_tried="$nk_tried $K (symbol $nk_bad)"; continue; fi
    nk_count=$(wc -l <"$NK_T/versions"); nk_count=$(echo $nk_count)
    nk_made=0; [ -d "$M/weak-updates" ] || nk_made=1
    nk_link="../../$K/extra/nbd.ko"
    mkdir -p "$M/weak-updates" && ln -sf "$nk_link" "$M/weak-updates/nbd.ko" || { nk_outcome "$V" failed "cannot link $M/weak-updates/nbd.ko"; return 0; }
    nk_own "$V" how=reused file="$M/weak-updates/nbd.ko" link="$nk_link" builtFor="$K" sha256="$(nk_hash "$nk_src")" crcs="$nk_count" madedir="$nk_made" source="$NK_FROM"
    if "$NK_DEPMOD" -a "$V" 2>"$NK_T/depmod.err"; then
      nk_outcome "$V" reused "no artifact for $V; reused the one built for $K: all $nk_count imported CRCs match $nk_sv; linked $M/weak-updates/nbd.ko"
    else
      nk_outcome "$V" depmod-failed "linked $M/weak-updates/nbd.ko (built for $K) but depmod -a $V failed: $(tail -n 1 "$NK_T/depmod.err")"
    fi
    return 0
  done
  if [ -n "$nk_tried" ]; then nk_outcome "$V" refused "$nk_none; not reusable:$nk_tried"
  else nk_outcome "$V" missing "$nk_none; no artifact of the same el point release ($nk_point) to reuse"; fi
}
# 3.10.0-1160.119.1.el7.x86_64 -> 3.10.0-1160.el7.x86_64: the point release whose kABI is kept stable
nk_point() { printf '%s\n' "$1" | sed -n 's/^\([0-9.]*-[0-9]*\)[.0-9]*\.\(el[0-9_]*\)\.\(.*\)$/\1.\2.\3/p'; }

# postrm: only what nk_own recorded, and only while it is still what was installed.
nk_remove() {
  V=$1; M=$NK_ROOT/lib/modules/$V
  # Debian's postrm runs postrm.d on an upgrade of the same kernel package too: the module stays
  case "${DEB_MAINT_PARAMS:-}" in upgrade* | failed-upgrade*) nk_say "$V: package upgrade ($DEB_MAINT_PARAMS): module kept"; return 0 ;; esac
  [ -f "$NK_STATE/$V" ] || { rm -f "$NK_STATE/$V.last"; nk_say "$V: nothing of ours to remove"; return 0; }
  nk_how=$(nk_state "$V" how); nk_f=$(nk_state "$V" file); nk_sha=$(nk_state "$V" sha256); nk_link=$(nk_state "$V" link)
  case "$nk_f" in "$M"/extra/nbd.ko | "$M"/weak-updates/nbd.ko) ;; *) nk_say "$V: the record names $nk_f; left alone"; return 0 ;; esac
  if [ "$nk_how" = reused ]; then
    if [ -L "$nk_f" ] && [ "$(readlink "$nk_f")" = "$nk_link" ]; then rm -f "$nk_f"; nk_say "$V: removed the link $nk_f"; else nk_say "$V: $nk_f is no longer our link; left alone"; fi
  elif [ -f "$nk_f" ] && [ "$(nk_hash "$nk_f")" = "$nk_sha" ]; then rm -f "$nk_f"; nk_say "$V: removed $nk_f"
  else nk_say "$V: $nk_f is gone or changed since the hook installed it; left alone"; fi
  if [ "$(nk_state "$V" madedir)" = 1 ]; then rmdir "${nk_f%/*}" 2>/dev/null; fi
  rm -f "$NK_STATE/$V" "$NK_STATE/$V.last"
  rmdir "$NK_STATE" "${NK_STATE%/*}" 2>/dev/null
  # the kernel still installed (postrm of a purge, or --purge): keep its index right
  if [ -d "$M/kernel" ]; then "$NK_DEPMOD" -a "$V" 2>/dev/null || nk_say "$V: depmod -a $V failed"; fi
  rmdir "$M" 2>/dev/null
  return 0
}

nk_purge() {
  for nk_rec in "$NK_STATE"/*; do
    [ -f "$nk_rec" ] || continue
    case "$nk_rec" in *.last | *.new) continue ;; esac
    nk_remove "${nk_rec##*/}"
  done
  rm -f "$NK_STATE"/*.last 2>/dev/null
  rmdir "$NK_STATE" "${NK_STATE%/*}" 2>/dev/null
  return 0
}

nk_status() {
  for nk_m in "$NK_ROOT"/lib/modules/*; do
    [ -d "$nk_m" ] || continue
    V=${nk_m##*/}
    nk_how=$(nk_state "$V" how)
    if [ -n "$nk_how" ]; then
      echo "kernel=$V how=$nk_how file=$(nk_state "$V" file) sha256=$(nk_state "$V" sha256) builtFor=$(nk_state "$V" builtFor) crcs=$(nk_state "$V" crcs)"
    elif [ -f "$nk_m/extra/nbd.ko" ]; then echo "kernel=$V how=installed file=$nk_m/extra/nbd.ko sha256=$(nk_hash "$nk_m/extra/nbd.ko")"
    elif [ -L "$nk_m/weak-updates/nbd.ko" ] && [ -f "$nk_m/weak-updates/nbd.ko" ]; then
      # linked by el's weak-modules (its own CRC check), not by this hook
      nk_to=$(readlink "$nk_m/weak-updates/nbd.ko"); nk_to=${nk_to%/extra/nbd.ko}
      echo "kernel=$V how=reused file=$nk_m/weak-updates/nbd.ko builtFor=${nk_to##*/} last=linked by weak-modules"
    elif grep -q '/nbd\.ko' "$nk_m/modules.builtin" 2>/dev/null || [ -n "$(find "$nk_m/kernel" -name 'nbd.ko*' 2>/dev/null | head -n 1)" ]; then echo "kernel=$V how=shipped"
    else echo "kernel=$V how=missing last=$(sed -n 's/^message=//p' "$NK_STATE/$V.last" 2>/dev/null)"; fi
  done
}

# The boot guard: nbd for the running kernel, or one clear line and a failed unit.
nk_boot() {
  V=$("$(nk_which uname)" -r); M=$NK_ROOT/lib/modules/$V
  [ -d "$NK_ROOT/sys/module/nbd" ] && { nk_say "$V: nbd is loaded"; return 0; }
  # modules.dep names every nbd.ko depmod found: shipped, extra/ or weak-updates/
  grep -q '^\([^:]*/\)\{0,1\}nbd\.ko[.a-z]*:' "$M/modules.dep" 2>/dev/null || nk_install "$V"
  "$NK_MODPROBE" nbd 2>"$NK_T/modprobe.err" && { nk_say "$V: nbd loaded"; return 0; }
  nk_last=$(sed -n 's/^message=//p' "$NK_STATE/$V.last" 2>/dev/null)
  printf '%s\n' "nbdforge-nbd-guard: kernel $V has no usable nbd.ko (modprobe: $(tail -n 1 "$NK_T/modprobe.err")${nk_last:+; hook: $nk_last}); fix: nbdforge matrix --missing (or nbdforge build --kernel $V) and publish, then here: nbdforge prepare-host --from $NK_FROM" >&2
  return 1
}

nk_main() {
  case "$1" in
    --install | --remove | --boot | --purge | --status) NK_ACT=${1#--}; shift ;;
    *) case "$0" in */postrm.d/* | */prerm.d/*) NK_ACT=remove ;; *) NK_ACT=install ;; esac ;;
  esac
  NK_FROM=$(nk_conf NBDFORGE_FROM); NK_PIN=$(nk_conf NBDFORGE_INDEX_SHA256); NK_FPR=$(nk_conf NBDFORGE_FINGERPRINT)
  NK_DEPMOD=$(nk_which depmod); NK_MODPROBE=$(nk_which modprobe); NK_MODINFO=$(nk_which modinfo)
  NK_INSECURE=$(nk_conf NBDFORGE_INSECURE_NO_SIGNATURE); NK_FAMILY=$(nk_conf NBDFORGE_FAMILY); NK_INDEX_OK=''
  NK_REQUIRE_PROOF=$(nk_conf NBDFORGE_REQUIRE_PROOF)
  case "$NK_ACT" in
    purge) nk_purge; return 0 ;;
    status) nk_status; return 0 ;;
  esac
  NK_T=$(mktemp -d "${TMPDIR:-/tmp}/nbdforge-hook.XXXXXX") || { nk_say "cannot create a temporary directory"; return 0; }
  trap 'rm -rf "$NK_T"' EXIT
  if [ "$NK_ACT" = boot ]; then nk_boot; return $?; fi
  nk_release "$1" || { nk_say "usage: $0 VERSION [IMAGE] (got \"$1\"); nothing done"; return 0; }
  if [ "$NK_ACT" = remove ]; then nk_remove "$1"; return 0; fi
  [ -n "$NK_FROM" ] || { nk_say "$1: no source in $NK_CONF; nothing done"; return 0; }
  nk_install "$1"
  return 0
}

nk_main "$@"
nk_rc=$?
[ "$NK_ACT" = boot ] && exit $nk_rc
exit 0
