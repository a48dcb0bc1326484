# install.sh's checks of the index (src/publish/dir/install-checks.sh): signature, serial and expiry, the
# fields of one line, the proof. Put in place of @FUNCTIONS@ in install.sh by renderInstallSh.

# Rollback protection: the index's serial may only grow, per source, and it expires. The highest
# serial accepted from each source is kept in $NBDFORGE_STATE_DIR/serials/<sha256 of the source>
# (default /var/lib/nbdforge/serials/; nbdforge prepare-host --from URL reads and writes the same).
ni_fresh() {
  ni_head=''
  read -r ni_head <"$NI_T/index.json" || :
  ni_parse "$ni_head"
  ni_serial=$ni_f_serial ni_expires=$ni_f_expires ni_until=$ni_f_validUntil
  case "$ni_serial$ni_expires" in *[!0-9]*) ni_serial='' ;; esac
  case "$ni_until" in *[!0-9TZ:.-]*) ni_until='' ;; esac
  [ -n "$ni_serial" ] && [ -n "$ni_expires" ] && [ ${#ni_serial} -le 15 ] && [ ${#ni_expires} -le 15 ] \
    || ni_refuse "index.json carries no serial and expiry (published by an nbdforge without rollback protection, or replayed from then): publish it again"
  ni_now=$(date +%s)
  case "$ni_now" in *[!0-9]* | '') ni_refuse "cannot read the clock (date +%s gave \"$ni_now\")" ;; esac
  [ "$ni_now" -lt "$ni_expires" ] || ni_refuse "index.json (serial $ni_serial) expired at ${ni_until:-$ni_expires}: the publisher must publish again (nbdforge publish --valid-for DAYS)"
  # ni_src and its sha256 ni_hs: from ni_index, hashed with the other files
  ni_hex64 "$ni_hs" || ni_refuse "cannot hash the source's name"
  NI_STATE_FILE="${NBDFORGE_STATE_DIR:-/var/lib/nbdforge}/serials/$ni_hs"
  ni_seen=''
  [ ! -f "$NI_STATE_FILE" ] || read -r ni_seen ni_rest <"$NI_STATE_FILE" || :
  case "$ni_seen" in *[!0-9]*) ni_refuse "$NI_STATE_FILE is damaged (\"$ni_seen\"): check it, or remove it to trust $ni_src afresh" ;; esac
  if [ -n "$ni_seen" ] && [ "$ni_serial" -lt "$ni_seen" ]; then
    ni_refuse "index.json has serial $ni_serial, older than serial $ni_seen this host already accepted from $ni_src: an older tree served again (rollback)"
  fi
  ni_say "index.json serial $ni_serial (this host had ${ni_seen:-none}), valid until ${ni_until:-$ni_expires}"
  if [ -z "$ni_seen" ] || [ "$ni_serial" -gt "$ni_seen" ]; then
    { { [ -d "${NI_STATE_FILE%/*}" ] || mkdir -p "${NI_STATE_FILE%/*}"; } && printf '%s %s\n' "$ni_serial" "$ni_src" >"$NI_STATE_FILE.new" && mv -f "$NI_STATE_FILE.new" "$NI_STATE_FILE"; } 2>/dev/null \
      || ni_say "WARNING: cannot record serial $ni_serial in $NI_STATE_FILE: a later rollback to an older tree will not be noticed here"
  fi
}

ni_verify_index() {
  if [ -n "$NI_PIN" ]; then
    # hashed by ni_index with the other files
    ni_s=$ni_hi
    [ "$ni_s" = "$NI_PIN" ] || ni_refuse "index.json has sha256 $ni_s, not the pinned $NI_PIN"
    ni_say "index.json matches the pinned sha256"
    return 0
  fi
  if [ "${NBDFORGE_INSECURE_NO_SIGNATURE:-}" = 1 ]; then
    ni_say "WARNING: NBDFORGE_INSECURE_NO_SIGNATURE=1: index.json is NOT verified; anyone who can change"
    ni_say "WARNING: what $NI_FROM serves can now load code into this kernel as root"
    return 0
  fi
  [ -n "$NI_FPR" ] || ni_refuse "this directory was published without a signature (nbdforge publish --gpg-key KEY signs it);" \
    "pass --index-sha256 HEX of an index.json you trust, or set NBDFORGE_INSECURE_NO_SIGNATURE=1 to install unverified"
  ni_key >"$NI_T/key.gpg" && [ -s "$NI_T/key.gpg" ] || ni_refuse "the key embedded in install.sh is unreadable"
  # gpgv reads no file of its home with --keyring given: the private temporary directory (mode 700) serves
  gpgv --homedir "$NI_T" --status-fd 1 --keyring "$NI_T/key.gpg" "$NI_T/index.json.sig" "$NI_T/index.json" \
    >"$NI_T/gpgv.status" 2>"$NI_T/gpgv.err" </dev/null
  ni_rc=$?
  # the primary key's fingerprint ends the first VALIDSIG line; any of the bad statuses fails it
  ni_signer='' ni_bad=''
  while read -r ni_l; do
    case "$ni_l" in
      '[GNUPG:] VALIDSIG '*' '*)
        ni_f=${ni_l##* }
        case "$ni_f" in *[!0-9A-Fa-f]*) ;; *) [ -n "$ni_signer" ] || [ ${#ni_f} -ne 40 ] || ni_signer=$ni_f ;; esac ;;
      '[GNUPG:] BADSIG'* | '[GNUPG:] ERRSIG'* | '[GNUPG:] EXPSIG'* | '[GNUPG:] EXPKEYSIG'* | '[GNUPG:] REVKEYSIG'* | '[GNUPG:] NO_PUBKEY'* | '[GNUPG:] NODATA'*) ni_bad=1 ;;
    esac
  done <"$NI_T/gpgv.status"
  if [ "$ni_rc" != 0 ] || [ -n "$ni_bad" ] || [ -z "$ni_signer" ]; then
    ni_refuse "the signature of $NI_FROM/index.json does not verify with key $NI_FPR: $(tail -n 1 "$NI_T/gpgv.err")"
  fi
  [ "$ni_signer" = "$NI_FPR" ] || ni_refuse "index.json is signed by $ni_signer, not by the pinned $NI_FPR"
  ni_say "index.json signature verified (key $NI_FPR)"
}

# ni_parse LINE: ni_f_NAME = the value of each "NAME": install.sh reads in one line of the index (the
# last one, without its quotes; '' when absent). Values never hold quotes, commas or braces, so the line
# is split at its commas once: no subshell, no sed, no pattern run over the whole line per field.
ni_parse() {
  ni_f_serial='' ni_f_expires='' ni_f_validUntil='' ni_f_path='' ni_f_size='' ni_f_sha256='' ni_f_vermagic=''
  ni_f_plan='' ni_f_planSha256='' ni_f_proof='' ni_f_proofSha256='' ni_f_proofDate=''
  ni_ifs=$IFS; IFS=,; set -f; set -- $1; set +f; IFS=$ni_ifs
  for ni_kv; do
    ni_kv=${ni_kv#\{}
    case "$ni_kv" in \"*\":*) ;; *) continue ;; esac
    ni_k=${ni_kv%%\":*}; ni_k=${ni_k#\"}
    ni_v=${ni_kv#*\":}; ni_v=${ni_v#\"}; ni_v=${ni_v%%[\"\}]*}
    case "$ni_k" in
      serial | expires | validUntil | path | size | sha256 | vermagic | plan | planSha256 | proof | proofSha256 | proofDate) eval "ni_f_$ni_k=\$ni_v" ;;
    esac
  done
}
ni_hex64() { case "$1" in *[!0-9a-f]* | '') return 1 ;; esac; [ ${#1} -eq 64 ]; }
ni_relpath() { case "$1" in /* | *..* | *[!A-Za-z0-9._+/-]* | '') return 1 ;; esac; }

# The proof the signed index names for this kernel's module (fetched with the module, its sha256
# checked by ni_match); or, without one, "not proven" (refused under --require-proof before the module
# is used). Sets NI_PF to its path, or ''.
ni_proof_entry() {
  NI_PF=$ni_f_proof
  if [ -z "$NI_PF" ]; then
    [ "$NI_REQUIRE_PROOF" != 1 ] || ni_refuse "$ni_path is not proven in its own kernel (the index names no proof for $NI_R) and --require-proof is set"
    return 0
  fi
  ni_psha=$ni_f_proofSha256 ni_pdate=$ni_f_proofDate
  ni_relpath "$NI_PF" && ni_hex64 "$ni_psha" \
    && case "$ni_pdate" in [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]) ;; *) false ;; esac \
    || ni_refuse "index.json's proof entry for $NI_R is malformed"
}
ni_proof_check() {
  if [ -z "$NI_PF" ]; then
    ni_say "$ni_path: not proven in its own kernel (no proof published for $NI_R)"
    return 0
  fi
  ni_say "proven in $NI_R on $ni_pdate ($NI_PF matches its sha256 in the index)"
}

# ni_words WORDS: ni_v = WORDS with runs of blanks made one space and none at the ends (echo $x).
ni_words() { set -f; set -- $1; set +f; ni_v="$*"; }
