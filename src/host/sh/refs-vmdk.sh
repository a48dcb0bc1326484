# nbdforge map library, part 3: the references of VMDK, VHDX and QED layers (see refs.sh; joined to
# the library by src/host/sh-library.ts).
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
