# nbdforge map library, part 2: what an image is and what it reaches (POSIX sh; joined to lib.sh by
# src/host/sh-library.ts). A guest controls the bytes of its own disk, so a format probed from them is
# chosen by whoever wrote them: the format comes from the operator (--format) or from the file's
# name, the header only has to agree, and qemu never probes (every layer's format is pinned). Every
# file a layer names (qcow2 backing file and external data file, VMDK extents and parent, QED
# backing file) must be a regular file inside the image's own directory tree after links are
# resolved, or be named by --allow-external; protocols (nbd:, http:, json:...) and devices never are.
# Failures print one line "refused: ..." and return 1 (the caller exits 3 before anything opened it).

# nm_kind FILE: refuse what cannot be an image before anything opens it (a FIFO would hang a read).
nm_kind() {
  if [ -p "$1" ]; then NM_WHY="$1 is a FIFO, not a disk image"
  elif [ -c "$1" ]; then NM_WHY="$1 is a character device, not a disk image"
  elif [ -S "$1" ]; then NM_WHY="$1 is a socket, not a disk image"
  elif [ -d "$1" ]; then NM_WHY="$1 is a directory, not a disk image"
  elif [ -f "$1" ] && [ ! -s "$1" ]; then NM_WHY="$1 is empty (0 bytes), not a disk image"
  elif [ -f "$1" ] || [ -b "$1" ]; then return 0
  else NM_WHY="$1 is neither a regular file nor a block device"; fi
  return 1
}
# nm_u FILE OFF LEN be|le: an unsigned number stored at OFF, in NM_V (one od).
nm_u() {
  nm_ub=$(od -An -v -tu1 -j "$2" -N "$3" "$1" 2>/dev/null); NM_V=0
  if [ "$4" = be ]; then for nm_x in $nm_ub; do NM_V=$((NM_V * 256 + nm_x)); done
  else nm_m=1; for nm_x in $nm_ub; do NM_V=$((NM_V + nm_x * nm_m)); nm_m=$((nm_m * 256)); done; fi
}
nm_hex() { set -- $(od -An -v -tx1 -j "$2" -N "$3" "$1" 2>/dev/null); NM_V="$*"; }
nm_count() { NM_V=$#; }
# nm_num OFF LEN be|le BYTE...: the number at OFF in a list of decimal bytes (no process); 1 if too short
nm_num() {
  nm_o=$1; nm_l=$2; nm_e=$3; shift 3; NM_V=0; nm_m=1
  [ $# -ge $((nm_o + nm_l)) ] || return 1
  [ "$nm_o" = 0 ] || shift "$nm_o"
  while [ "$nm_l" -gt 0 ]; do
    if [ "$nm_e" = be ]; then NM_V=$((NM_V * 256 + $1)); else NM_V=$((NM_V + $1 * nm_m)); nm_m=$((nm_m * 256)); fi
    shift; nm_l=$((nm_l - 1))
  done
}
# nm_str FILE OFF LEN: LEN bytes at OFF as text in NM_V; status 1 if they are not plain text.
nm_str() {
  NM_V=$(dd if="$1" bs=1 skip="$2" count="$3" 2>/dev/null; echo .); NM_V=${NM_V%.}
  [ "${#NM_V}" = "$3" ] || return 1
  case $NM_V in *[[:cntrl:]]* | *\"* | *\\*) return 1 ;; esac
}
# nm_magic FILE: the format the first bytes claim, in NM_V (empty: none).
nm_magic() {
  if [ "$NM_HF" != "$1" ]; then NM_HB=$(od -An -v -tu1 -N 104 "$1" 2>/dev/null); NM_HF=$1; fi
  set -- $NM_HB; nm_h8="$1 $2 $3 $4 $5 $6 $7 $8"
  case $nm_h8 in
    '81 70 73 251 '*) NM_V=qcow2 ;; '75 68 77 86 '* | '67 79 87 68 '*) NM_V=vmdk ;; '118 104 100 120 102 105 108 101') NM_V=vhdx ;;
    '99 111 110 101 99 116 105 120') NM_V=vpc ;; '81 69 68 0 '*) NM_V=qed ;;
    *) nm_num 64 4 be $NM_HB && [ "$NM_V" = 2131811006 ] && NM_V=vdi || NM_V= ;;
  esac
}
# nm_byname FILE: the format its name says (.qcow2, .vmdk, ...; raw for .raw), in NM_V.
nm_byname() {
  case ${1##*/} in
    *.qcow2 | *.QCOW2 | *.qcow | *.QCOW) NM_V=qcow2 ;; *.vmdk | *.VMDK) NM_V=vmdk ;; *.vhdx | *.VHDX) NM_V=vhdx ;;
    *.vdi | *.VDI) NM_V=vdi ;; *.vhd | *.VHD | *.vpc) NM_V=vpc ;; *.qed | *.QED) NM_V=qed ;; *.raw | *.RAW) NM_V=raw ;; *) NM_V= ;;
  esac
}
# nm_agrees FILE FORMAT: do the file's first bytes say FORMAT? (raw always; a vmdk may be a text descriptor)
nm_agrees() {
  [ "$2" = raw ] && return 0
  nm_magic "$1"; [ "$NM_V" = "$2" ] && return 0
  [ "$2" = vmdk ] && [ -z "$NM_V" ] && nm_vmdk_text "$1" && return 0
  [ "$2" = vpc ] && [ -f "$1" ] && { nm_sz=$(wc -c < "$1"); nm_hex "$1" $((nm_sz - 512)) 8; [ "$NM_V" = '63 6f 6e 65 63 74 69 78' ]; }
}
nm_vmdk_text() { nm_t=$(head -c 512 "$1" 2>/dev/null | tr -d '\r'); case $NM_NL$nm_t in *"${NM_NL}version="[123]"$NM_NL"* | *"${NM_NL}version="[123]) return 0 ;; esac; return 1; }
# nm_top_format FILE GIVEN: the format to pin for the image itself, in FMT (NM_WHY on refusal).
nm_top_format() {
  if [ -n "$2" ]; then
    case $2 in raw | qcow2 | vmdk | vhdx | vdi | vpc | qed) ;; *) NM_WHY="--format $2: nbdforge cannot check what a $2 image references; convert it (qemu-img convert -O qcow2) or map the raw bytes with --format raw"; return 1 ;; esac
    nm_agrees "$1" "$2" || { NM_WHY="$1 is not $2 (its header does not say so): check --format"; return 1; }
    FMT=$2; return 0
  fi
  if [ -b "$1" ]; then FMT=raw; return 0; fi
  nm_byname "$1"; nm_n=$NM_V
  if [ -n "$nm_n" ]; then
    nm_agrees "$1" "$nm_n" || { nm_magic "$1"; NM_WHY="$1 is named as $nm_n but its header says ${NM_V:-raw}: give --format ${NM_V:-raw} if that is what it is"; return 1; }
    FMT=$nm_n; return 0
  fi
  nm_magic "$1"
  if [ -n "$NM_V" ]; then NM_WHY="$1 starts with a $NM_V header, but neither its name nor --format says $NM_V (a raw disk a guest wrote can start with one): give --format $NM_V if it is one, --format raw if not"; return 1; fi
  FMT=raw
}
# nm_real PATH: its real path in NM_V; cd -P in this shell (no process) unless PATH itself is a link
nm_real() {
  if [ -e "$1" ] && [ ! -L "$1" ]; then
    case $1 in /*/* | /[!/]*) nm_b=${1##*/} ;; *) nm_b= ;; esac
    case $nm_b in '' | . | ..) ;; *)
      nm_pw=$PWD
      if cd -P -- "${1%/*}/" 2> /dev/null; then NM_V=${PWD%/}/$nm_b; cd -- "$nm_pw" 2> /dev/null; return 0; fi ;;
    esac
  fi
  NM_V=$(readlink -f -- "$1" 2>/dev/null)
}
# nm_ref FROM_PATH NAME WHAT: resolve a reference as qemu would (relative to the directory of the
# path qemu opened FROM_PATH by); NM_QP the path qemu will open, NM_RP the real file. Refuses
# protocols, devices and anything outside NM_TREE not named by --allow-external (NM_ALLOW).
nm_ref() {
  case $2 in
    '') NM_WHY="$1 names an empty $3"; return 1 ;;
    /*) NM_QP=$2 ;;
    [!/]*:*) case ${2%%:*} in */*) NM_QP=${1%/*}/$2 ;; *) nm_allowed "$2" "" && { NM_QP=$2; NM_RP=$2; return 0; }
      NM_WHY="$1 names $3 $2: a protocol or json: filename, not a file (--allow-external $2 if you mean it)"; return 1 ;; esac ;;
    *) NM_QP=${1%/*}/$2 ;;
  esac
  nm_real "$NM_QP"; NM_RP=$NM_V; [ -n "$NM_RP" ] && [ -e "$NM_RP" ] || { NM_WHY="$1 names $3 $2, which does not exist"; return 1; }
  case $NM_RP in "$NM_TREE"/*) nm_in=1 ;; *) nm_in=0 ;; esac
  if [ "$nm_in" = 0 ] || [ ! -f "$NM_RP" ]; then
    nm_allowed "$2" "$NM_RP" && return 0
    if [ ! -f "$NM_RP" ]; then NM_WHY="$1 names $3 $2 ($NM_RP), which is not a regular file (--allow-external $NM_RP if you mean it)"
    else NM_WHY="$1 names $3 $2 ($NM_RP), outside the image's directory $NM_TREE (--allow-external $NM_RP if you mean it)"; fi
    return 1
  fi
  nm_kind "$NM_RP" || { NM_WHY="$1 names $3 $2: $NM_WHY"; return 1; }
}
nm_allowed() { # RAW REAL: named by --allow-external (space-free list in NM_ALLOW, one per line)
  case $NM_NL$NM_ALLOW$NM_NL in *"$NM_NL$1$NM_NL"*) return 0 ;; esac
  [ -n "$2" ] && case $NM_NL$NM_ALLOW$NM_NL in *"$NM_NL$2$NM_NL"*) return 0 ;; esac
  return 1
}
# nm_inspect IMAGE GIVEN_FORMAT: pinned format in FMT, the chain in NM_CHAIN ("a (qcow2) <- b (raw)").
nm_inspect() {
  nm_kind "$1" || return 1
  nm_real "$1"; nm_top=$NM_V; NM_TREE=${nm_top%/*}; NM_SEEN=; NM_CHAIN=; NM_DEPTH=0
  nm_top_format "$1" "$2" || return 1
  nm_layer "$1" "$nm_top" "$FMT" || return 1
  [ "$FMT" = raw ] || return 0
  nm_magic "$1"; [ -z "$NM_V" ] || nm_warn "$1 starts with a $NM_V header but is served as raw (--format $NM_V if it really is $NM_V)"
  return 0
}
# nm_layer QEMU_PATH REAL_PATH FORMAT: check one layer and everything it names (recursively).
nm_layer() {
  NM_DEPTH=$((NM_DEPTH + 1))
  [ "$NM_DEPTH" -le 16 ] || { NM_WHY="$1: the backing chain is longer than 16 layers"; return 1; }
  case $NM_NL$NM_SEEN in *"$NM_NL$2$NM_NL"*) NM_WHY="$1: backing loop ($2 is already in the chain: $NM_CHAIN)"; return 1 ;; esac
  NM_SEEN=$NM_SEEN$2$NM_NL
  NM_CHAIN="$NM_CHAIN${NM_CHAIN:+ <- }${1##*/} ($3)"
  case $3 in
    raw | vdi | vpc) return 0 ;;
    qcow2) nm_qcow2 "$@" ;; vmdk) nm_vmdk "$@" ;; vhdx) nm_vhdx "$@" ;; qed) nm_qed "$@" ;;
    *) NM_WHY="$1: nbdforge cannot check what a $3 layer references"; return 1 ;;
  esac
}
nm_qcow2() {
  # the whole header in one od (a process costs more than the arithmetic under emulation)
  [ "$NM_HF" = "$2" ] && nm_qh=$NM_HB || nm_qh=$(od -An -v -tu1 -N 104 "$2" 2>/dev/null)
  nm_num 0 4 be $nm_qh && [ "$NM_V" = 1363560955 ] || { NM_WHY="$1 is not qcow2"; return 1; }
  nm_num 4 4 be $nm_qh; nm_ver=$NM_V
  nm_num 8 8 be $nm_qh; nm_bo=$NM_V; nm_num 16 4 be $nm_qh; nm_bs=$NM_V
  nm_num 20 4 be $nm_qh; nm_cl=$((1 << NM_V)); nm_eo=72; nm_inc=0
  if [ "$nm_ver" -ge 3 ]; then
    nm_num 100 4 be $nm_qh || { NM_WHY="$1: its qcow2 header is cut short"; return 1; }
    nm_eo=$NM_V; nm_num 72 8 be $nm_qh; nm_inc=$NM_V
  fi
  # the extensions: read 1 KiB at a time (one od for the usual few), walked in the shell
  nm_bf=; nm_df=; nm_hasdf=0; nm_i=0; nm_ws=$nm_eo; nm_xb=; nm_xn=0
  while [ "$nm_eo" -lt "$nm_cl" ] && [ $nm_i -lt 64 ]; do
    if [ $((nm_eo - nm_ws + 8)) -gt "$nm_xn" ]; then
      nm_ws=$nm_eo; nm_xb=$(od -An -v -tu1 -j "$nm_eo" -N 1024 "$2" 2>/dev/null); nm_count $nm_xb; nm_xn=$NM_V
      [ "$nm_xn" -ge 8 ] || break
    fi
    nm_num $((nm_eo - nm_ws)) 4 be $nm_xb; nm_ty=$NM_V; nm_num $((nm_eo - nm_ws + 4)) 4 be $nm_xb; nm_len=$NM_V
    case $nm_ty in
      0) break ;;
      3799591626 | 1145132097) [ "$nm_len" -le 1023 ] || { NM_WHY="$1: a header extension names more than 1023 bytes"; return 1; } ;;
    esac
    case $nm_ty in
      3799591626) nm_str "$2" $((nm_eo + 8)) "$nm_len" || { NM_WHY="$1: its backing format is not plain text"; return 1; }; nm_bf=$NM_V ;;
      1145132097) nm_str "$2" $((nm_eo + 8)) "$nm_len" || { NM_WHY="$1: its external data file name is not plain text"; return 1; }; nm_df=$NM_V; nm_hasdf=1 ;;
    esac
    nm_eo=$((nm_eo + 8 + (nm_len + 7) / 8 * 8)); nm_i=$((nm_i + 1))
  done
  if [ $((nm_inc & 4)) != 0 ] && [ "$nm_hasdf" = 0 ]; then NM_WHY="$1 needs an external data file but does not name one"; return 1; fi
  if [ "$nm_hasdf" = 1 ]; then
    nm_ref "$1" "$nm_df" "the external data file" || return 1
    NM_CHAIN="$NM_CHAIN [data file ${nm_df}]"
  fi
  [ "$nm_bo" != 0 ] && [ "$nm_bs" != 0 ] || return 0
  [ "$nm_bs" -le 1023 ] || { NM_WHY="$1: its backing file name is longer than 1023 bytes"; return 1; }
  nm_str "$2" "$nm_bo" "$nm_bs" || { NM_WHY="$1: its backing file name is not a plain path (quotes, backslashes or control characters: a json: filename?)"; return 1; }
  nm_bn=$NM_V
  nm_ref "$1" "$nm_bn" "the backing file" || return 1
  nm_bq=$NM_QP; nm_br=$NM_RP
  case $nm_br in
    /*) ;;
    *) [ -n "$nm_bf" ] || { NM_WHY="$1 names the backing $nm_bn without a backing format"; return 1; }
      NM_CHAIN="$NM_CHAIN <- $nm_bn ($nm_bf, allowed external, not inspected)"; return 0 ;;
  esac
  if [ -z "$nm_bf" ]; then
    # no backing format: qemu would probe; only an unambiguous layer (its name and header agree) passes
    nm_byname "$nm_br"; nm_bf=$NM_V
    if [ -z "$nm_bf" ] || [ "$nm_bf" = raw ] || ! nm_agrees "$nm_br" "$nm_bf"; then
      NM_WHY="$1 names the backing file $nm_bn without a backing format (qemu would probe it): record it with qemu-img rebase -u -F FORMAT -b $nm_bn $1"; return 1
    fi
  fi
  case $nm_bf in raw | qcow2 | vmdk | vhdx | vdi | vpc | qed) ;; *) NM_WHY="$1: backing format $nm_bf of $nm_bn cannot be checked"; return 1 ;; esac
  nm_agrees "$nm_br" "$nm_bf" || { NM_WHY="$1 says its backing file $nm_bn is $nm_bf, but its header does not"; return 1; }
  nm_layer "$nm_bq" "$nm_br" "$nm_bf"
}
