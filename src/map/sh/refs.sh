# nbdforge map library, part 2: what an image is and what it reaches (POSIX sh; joined to lib.sh by
# src/map/steps.ts). A guest controls the bytes of its own disk, so a format probed from them is
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
# VMDK: a sparse file (its embedded descriptor, when it has one) or a text descriptor: every extent
# file, and the parentFileNameHint (qemu opens it as a backing file, wherever it sits in the text).
nm_vmdk() {
  nm_hex "$2" 0 4
  case $NM_V in
    '43 4f 57 44') return 0 ;;
    '4b 44 4d 56') nm_u "$2" 28 8 le; nm_do=$NM_V; nm_u "$2" 36 8 le; nm_ds=$NM_V
      [ "$nm_do" != 0 ] || return 0
      [ "$nm_ds" -le 2048 ] || { NM_WHY="$1: its embedded descriptor is larger than 1 MiB"; return 1; }
      nm_desc=$(dd if="$2" bs=512 skip="$nm_do" count="$nm_ds" 2>/dev/null | tr -d '\000\r') ;;
    *) nm_desc=$(head -c 1048576 "$2" | tr -d '\000\r') ;;
  esac
  nm_vf=$1; nm_vwhy=
  nm_each nm_vmdk_line "$nm_desc"
  [ -z "$nm_vwhy" ] || { NM_WHY=$nm_vwhy; return 1; }
  case $nm_desc in *parentFileNameHint*) ;; *) return 0 ;; esac
  nm_nm=${nm_desc#*parentFileNameHint}; nm_nm=${nm_nm#??}; nm_nm=${nm_nm%%\"*}
  nm_ref "$1" "$nm_nm" "the parent (parentFileNameHint)" || return 1
  case $NM_RP in /*) ;; *) NM_WHY="$1: its parent $nm_nm is not a file"; return 1 ;; esac
  # qemu probes the parent's format: only a layer whose name and header agree passes
  nm_byname "$NM_RP"; nm_pf=$NM_V
  { [ -n "$nm_pf" ] && [ "$nm_pf" != raw ] && nm_agrees "$NM_RP" "$nm_pf"; } || { NM_WHY="$1 names the parent $nm_nm, whose format qemu would have to probe"; return 1; }
  nm_layer "$NM_QP" "$NM_RP" "$nm_pf"
}
nm_vmdk_line() {
  [ -z "$nm_vwhy" ] || return 0
  nm_ln=$1
  while :; do case $nm_ln in ' '* | '	'*) nm_ln=${nm_ln#?} ;; *) break ;; esac; done
  case $nm_ln in '#'* | '') return 0 ;; *\"*) ;; *) return 0 ;; esac
  case ${nm_ln%%\"*} in *=*) return 0 ;; esac
  nm_nm=${nm_ln#*\"}; nm_nm=${nm_nm%%\"*}; nm_ty=${nm_ln%%\"*}; nm_ty=${nm_ty% }; nm_ty=${nm_ty##* }
  if ! nm_ref "$nm_vf" "$nm_nm" "the extent ($nm_ty)"; then nm_vwhy=$NM_WHY; return 0; fi
  case $NM_RP in /*) ;; *) nm_vwhy="$nm_vf: its extent $nm_nm is not a file"; return 0 ;; esac
  NM_CHAIN="$NM_CHAIN [extent $nm_nm]"
  # a sparse extent whose capacity is 0 is read by qemu as a descriptor of further extents: refused
  case $nm_ty in
    SPARSE | VMFSSPARSE | SESPARSE)
      nm_hex "$NM_RP" 0 4; nm_em=$NM_V; nm_u "$NM_RP" 12 8 le
      [ "$nm_em" = '4b 44 4d 56' ] && [ "$NM_V" = 0 ] && nm_vwhy="$nm_vf: its sparse extent $nm_nm is itself a descriptor (capacity 0): nested descriptors are not followed" ;;
  esac
}
# VHDX: qemu does not open differencing disks, but a parent locator is refused here all the same.
nm_vhdx() {
  # the region table (one od): the metadata region's entry, then its table (one od): a parent locator?
  nm_hex "$2" 196624 1024; nm_t=" $NM_V "; nm_g='06 a2 7c 8b 90 47 9a 4b b8 fe 57 5f 05 0f 88 6e'
  case $nm_t in *" $nm_g "*) ;; *) return 0 ;; esac
  nm_p=${nm_t%%" $nm_g "*}; nm_p=$((${#nm_p} / 3))
  [ $((nm_p % 32)) = 0 ] || return 0
  nm_u "$2" $((196624 + nm_p + 16)) 8 le; nm_mo=$NM_V
  nm_u "$2" $((nm_mo + 10)) 2 le; nm_n=$NM_V; [ "$nm_n" -le 2047 ] || nm_n=2047
  [ "$nm_n" -gt 0 ] || return 0
  nm_hex "$2" $((nm_mo + 32)) $((nm_n * 32))
  case " $NM_V " in *' 2d 5f d3 a8 0b b3 4d 45 ab f7 d3 d8 48 34 ab 0c '*)
    NM_WHY="$1 is a VHDX differencing disk (it has a parent locator): nbdforge does not follow VHDX parents"; return 1 ;; esac
}
nm_qed() {
  nm_u "$2" 16 8 le
  [ $((NM_V & 1)) = 0 ] || { NM_WHY="$1 is a QED image with a backing file: nbdforge does not follow QED backing files (qemu-img convert -O qcow2 first)"; return 1; }
}
# nm_bdev_busy FILE: a block device (or one of its partitions) mounted, held by device-mapper/LVM/md,
# used as swap or open in a process; the first reason in NM_WHY.
nm_bdev_busy() {
  [ -b "$1" ] || return 1
  nm_bn=$(readlink -f -- "$1"); nm_bn=${nm_bn##*/}; nm_sys=/sys/class/block/$nm_bn
  for nm_bd in "$nm_sys" "$nm_sys"/"$nm_bn"*; do
    [ -r "$nm_bd/dev" ] || continue
    nm_n=${nm_bd##*/}; read -r nm_mm 2>/dev/null < "$nm_bd/dev"
    for nm_hd in "$nm_bd"/holders/*; do [ -e "$nm_hd" ] && { NM_WHY="/dev/$nm_n is held by ${nm_hd##*/} (device-mapper, LVM or md)"; return 0; }; done
    while read -r nm_a nm_b nm_c nm_d nm_e nm_r; do [ "$nm_c" = "$nm_mm" ] && { NM_WHY="/dev/$nm_n is mounted on $nm_e"; return 0; }; done < /proc/self/mountinfo
    while read -r nm_a nm_r; do [ "$nm_a" -ef "/dev/$nm_n" ] 2>/dev/null && { NM_WHY="/dev/$nm_n is in use as swap"; return 0; }; done < /proc/swaps
    [ -b "/dev/$nm_n" ] && nm_held "/dev/$nm_n" && { NM_WHY="/dev/$nm_n is open in process $NM_V (${NM_HELD_BY:-?})"; return 0; }
  done
  return 1
}
# nm_writers STATE IMAGE MODE SHARED_RO [OWN_JOURNAL]: does another map or export's use of IMAGE
# exclude this one (reason in NM_WHY)? One writer, or readers only (--shared-ro lets read-only uses
# share); compared by device and inode, links resolved. With OWN_JOURNAL (the connect step, under
# the allocation lock) only journals that got as far as attaching or serving count, so of two maps
# started together the first to attach wins and the second is refused.
nm_writers() {
  for nm_j in "$1"/maps/*.jsonl; do
    [ -f "$nm_j" ] && [ "$nm_j" != "$5" ] || continue
    nm_h=; IFS= read -r nm_h 2>/dev/null < "$nm_j"
    nm_get image "$nm_h"; nm_o=$NM_V
    [ -n "$nm_o" ] && [ "$nm_o" -ef "$2" ] || continue
    [ -z "$5" ] || grep -qsE '"ev":"begin","kind":"(connect|loop|export)"' "$nm_j" || continue
    nm_get mode "$nm_h"; nm_om=$NM_V; nm_get kind "$nm_h"; nm_ok=$NM_V; nm_get id "$nm_h"
    case $nm_ok in map) nm_ok=mapped ;; *) nm_ok=${nm_ok}ed ;; esac
    nm_w="$2 is already $nm_ok ($nm_om"
    if [ "$nm_om" = rw ]; then NM_WHY="$nm_w, read-write: journal $NM_V): one writer per image; unmap it first"
    elif [ "$3" = rw ]; then NM_WHY="$nm_w: journal $NM_V): a read-write use beside another is refused; unmap it first"
    elif [ "$4" != 1 ]; then NM_WHY="$nm_w: journal $NM_V): give --shared-ro to use it read-only more than once"
    else continue; fi
    return 0
  done
  return 1
}
