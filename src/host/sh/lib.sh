# nbdforge map library (POSIX sh, prepended to every map/unmap/export step; see src/host/sh-library.ts).
# The journal is one JSON-lines file per map: $STATE/maps/<id>.jsonl. Every action that changes the
# host is written as a "begin" record before it runs and a "done" record after it; unmap undoes every
# begun action in reverse, so a map killed at any point is still torn down exactly.
# A value's '\', '"' and control characters are written as \u00XX (nm_enc: valid JSON, any byte of an
# image's label or UUID kept), so a value never holds a raw '"' and a record is read with parameter
# expansion alone: no fork per field, which matters under emulation.
LVM_SUPPRESS_FD_WARNINGS=1; export LVM_SUPPRESS_FD_WARNINGS
NM_NL='
'
nm_die() { nm_unlock; printf '%s\n' "$*"; exit 1; }
nm_warn() { printf 'warning: %s\n' "$*" >&2; }
# nm_get KEY RECORD: the value of KEY in NM_V (string or number); status 1 when absent.
nm_get() {
  case $2 in *"\"$1\":"*) ;; *) NM_V=; return 1 ;; esac
  NM_V=${2#*\"$1\":}
  case $NM_V in \"*) NM_V=${NM_V#\"}; NM_V=${NM_V%%\"*}; case $NM_V in *'\u00'*) nm_dec ;; esac ;; *) NM_V=${NM_V%%[,\}]*} ;; esac
}
# nm_enc VALUE: VALUE as the inside of a JSON string, in NM_V (see above); no loop in the common case.
nm_enc() {
  case $1 in *[\\\"]* | *[[:cntrl:]]*) ;; *) NM_V=$1; return 0 ;; esac
  nm_c=$1; NM_V=
  while [ -n "$nm_c" ]; do
    nm_h=${nm_c%"${nm_c#?}"}; nm_c=${nm_c#?}
    case $nm_h in
      \\) nm_h='\u005c' ;; \") nm_h='\u0022' ;; "$NM_NL") nm_h='\u000a' ;;
      [[:cntrl:]]) nm_h=$(printf '\\u%04x' "'$nm_h") ;;
    esac
    NM_V=$NM_V$nm_h
  done
}
# nm_dec: NM_V with its \u00XX turned back into bytes.
nm_dec() {
  nm_c=$NM_V; NM_V=
  while :; do
    case $nm_c in *'\u00'*) ;; *) NM_V=$NM_V$nm_c; return 0 ;; esac
    NM_V=$NM_V${nm_c%%'\u00'*}; nm_c=${nm_c#*'\u00'}; nm_x=${nm_c%"${nm_c#??}"}; nm_c=${nm_c#??}
    case $nm_x in 5c) NM_V="$NM_V\\" ;; 22) NM_V="$NM_V\"" ;; 0a) NM_V=$NM_V$NM_NL ;; *) NM_V=$NM_V$(printf "\\$(printf %o "0x$nm_x")") ;; esac
  done
}
# nm_unbs VALUE: blkid -o export's backslash escapes (LABEL=a\ b) taken off, in NM_V.
nm_unbs() {
  nm_c=$1; NM_V=
  while :; do
    case $nm_c in *\\*) ;; *) NM_V=$NM_V$nm_c; return 0 ;; esac
    NM_V=$NM_V${nm_c%%\\*}; nm_c=${nm_c#*\\}; NM_V=$NM_V${nm_c%"${nm_c#?}"}; nm_c=${nm_c#?}
  done
}
# nm_open STATE ID: journal of map ID, its header in NM_HEAD, the record count in NM_SEQ, its records
# in NM_ALL (the shell's read takes a byte per system call: a step reads the file once, then walks
# NM_ALL with nm_each).
nm_open() {
  NM_STATE=$1; NM_ID=$2; NM_J=$1/maps/$2.jsonl
  [ -f "$NM_J" ] || nm_die "no journal $NM_J"
  NM_SEQ=0; NM_HEAD=; NM_ALL=
  while IFS= read -r nm_l; do NM_SEQ=$((NM_SEQ + 1)); [ -z "$NM_HEAD" ] && NM_HEAD=$nm_l; NM_ALL=$NM_ALL$nm_l$NM_NL; done < "$NM_J"
  nm_get image "$NM_HEAD"; IMG=$NM_V
  nm_get mode "$NM_HEAD"; MODE=$NM_V
  nm_get via "$NM_HEAD"; VIA=$NM_V
  nm_get root "$NM_HEAD"; ROOT=$NM_V
  nm_get format "$NM_HEAD"; FMT=$NM_V
  nm_get offset "$NM_HEAD"; OFFSET=$NM_V
  return 0
}
# nm_jw EV KIND [KEY VALUE]...: append one record.
nm_jw() {
  NM_SEQ=$((NM_SEQ + 1)); nm_r="{\"seq\":$NM_SEQ,\"ev\":\"$1\",\"kind\":\"$2\""; shift 2
  while [ $# -ge 2 ]; do nm_enc "$2"; nm_r="$nm_r,\"$1\":\"$NM_V\""; shift 2; done
  printf '%s}\n' "$nm_r" >> "$NM_J" || nm_die "cannot write the journal $NM_J"
}
nm_begin() { nm_jw begin "$@"; NM_ACT=$NM_SEQ; }
nm_end() { NM_SEQ=$((NM_SEQ + 1)); printf '{"seq":%s,"ev":"%s","of":%s}\n' "$NM_SEQ" "$1" "$2" >> "$NM_J"; }
nm_done() { nm_end done "${1:-$NM_ACT}"; }
# nm_each FUNC [TEXT]: FUNC LINE for every line of TEXT (default NM_ALL), without reading a file
# again or a here-document (split on newlines, no globbing; FUNC runs with the usual IFS and globbing).
nm_each() {
  nm_ef=$1; [ $# -ge 2 ] && nm_et=$2 || nm_et=$NM_ALL
  nm_eifs=$IFS; set -f; IFS=$NM_NL
  for nm_ex in $nm_et; do set +f; IFS=$nm_eifs; "$nm_ef" "$nm_ex"; done
  set +f; IFS=$nm_eifs
}
# The record of the device this map attached (nbd or loop), in NM_DEV.
nm_device() {
  NM_DEV=
  nm_l=${NM_ALL#*\"ev\":\"begin\",\"kind\":\"connect\"}
  [ "$nm_l" = "$NM_ALL" ] && nm_l=${NM_ALL#*\"ev\":\"begin\",\"kind\":\"loop\"}
  if [ "$nm_l" != "$NM_ALL" ]; then nm_l=${nm_l%%"$NM_NL"*}; nm_get dev "$nm_l"; NM_DEV=$NM_V; nm_get format "$nm_l"; NM_FMT=$NM_V; fi
  [ -n "$NM_DEV" ] || nm_die "journal $NM_J names no device"
  NM_DEVN=${NM_DEV#/dev/}
}
# the last line of a tool's output that says why (mount's last line only points at dmesg)
# (cut to 600 characters: qemu nests errors on one line, 20 KB for a backing loop)
nm_last() { printf '%s\n' "$1" | sed -n '/dmesg(1) may have more information/!h; ${x;p;}' | cut -c1-600; }

# nm_safe_dir PATH WHAT [PATH2 WHAT2]: refuse (exit 1) a PATH whose existing part another user could
# change, as sshd's StrictModes does: PATH and every directory above it must be a directory (no
# symlink: one could be swapped after this check), owned by root and writable by no group or other
# user; a directory above PATH may be a sticky one (/tmp: others cannot rename or remove root's
# entries). What does not exist yet is made later by nbdforge, 0700. One ls for every component of
# both paths (each line names its path: "MODE LINKS UID GID SIZE MON DAY TIME PATH"; MODE may end in
# '.' (an SELinux context, CentOS 7) or '+' (an ACL, whose mask shows in the group bits)).
nm_safe_dir() {
  nm_s1=$1; nm_w1=$2; nm_s2=${3-}; nm_w2=${4-}; set --
  for nm_p in "$nm_s1" "$nm_s2"; do
    while [ -n "$nm_p" ]; do { [ -e "$nm_p" ] || [ -L "$nm_p" ]; } && set -- "$@" "$nm_p"; nm_p=${nm_p%/*}; done
  done
  nm_o=$(LC_ALL=C ls -ldn / "$@" 2>&1) || nm_die "$nm_w1 $nm_s1: cannot check its directories: $nm_o"
  while read -r nm_mo nm_ln nm_u nm_g nm_z nm_m nm_d nm_t nm_x; do
    nm_x=${nm_x% -> *}; nm_sw=$nm_w1; nm_last=0
    case $nm_s1/ in "${nm_x%/}"/*) ;; *) nm_sw=$nm_w2 ;; esac
    { [ "$nm_x" = "$nm_s1" ] || [ "$nm_x" = "$nm_s2" ]; } && nm_last=1
    case $nm_mo in
      l*) nm_die "refusing $nm_sw $nm_x: it is a symbolic link (give the real path; a link can be swapped)" ;;
      d*) ;;
      *) nm_die "refusing $nm_sw $nm_x: not a directory" ;;
    esac
    [ "$nm_u" = 0 ] || nm_die "refusing $nm_sw $nm_x: owned by uid $nm_u, not root (another user could plant links in it)"
    case $nm_mo in
      ?????[w-]??w[tT]*) [ "$nm_last" = 1 ] && nm_die "refusing $nm_sw $nm_x: writable by others ($nm_mo): another user could plant links in it" ;;
      ?????w* | ????????w*) nm_die "refusing $nm_sw $nm_x: writable by group or others ($nm_mo): another user could plant links in it" ;;
    esac
  done <<NM_EOF
$nm_o
NM_EOF
}
# Device allocation lock (lk_take, util/file-lock.sh): a stale one is taken over; a live one is
# waited for (maps are short), never raced.
NM_LOCKED=
nm_lock() {
  lk_take "$1" 30; nm_lr=$?
  [ "$nm_lr" = 1 ] && nm_die "timed out after 30 s waiting for the lock $1 (pid ${LK_PID:-unknown})"
  [ "$nm_lr" = 0 ] || nm_die "cannot create the lock $1"
  NM_LOCKED=$1
}
nm_unlock() { if [ -n "$NM_LOCKED" ]; then lk_drop "$NM_LOCKED"; NM_LOCKED=; fi; }

# Which config keys this lvm knows (lvm 2.02 warns on every call about keys it does not know, e.g.
# devices/use_devicesfile, global/event_activation): from `lvm config --type default devices global`
# (TEXT, or one lvm run when not given), once per step. Where lvmetad runs (lvm 2.02 with its socket
# present), our commands bypass it (use_lvmetad=0: a command-line filter would otherwise change what
# it caches) and the touched devices are rescanned into it afterwards (nm_lvmetad_rescan).
NM_LVK=
nm_lvm_known() {
  [ -n "$NM_LVK" ] && return 0
  if [ $# -ge 1 ]; then nm_k=$1; else nm_k=$(lvm config --type default devices global 2> /dev/null); fi
  NM_LVK=1; NM_LV_DF=; NM_LV_EA=; NM_LVMETAD=
  case $nm_k in *use_devicesfile=*) NM_LV_DF=' use_devicesfile=0' ;; esac
  case $nm_k in *event_activation=*) NM_LV_EA=' event_activation=0' ;; esac
  case $nm_k in *use_lvmetad=*) [ -e /run/lvm/lvmetad.socket ] && NM_LVMETAD=' use_lvmetad=0' ;; esac
  return 0
}
# nm_lvmetad_rescan MAJ:MIN...: tell a running lvmetad what these devices hold now (or that they are
# gone), as udev's lvm2-pvscan@ would; the host's own filters apply. A failure is only a warning.
nm_lvmetad_rescan() {
  [ -n "$NM_LVMETAD" ] && [ $# -gt 0 ] || return 0
  lvm pvscan --cache "$@" > /dev/null 2>&1 || nm_warn "lvm pvscan --cache $* failed: lvmetad may show stale PVs until the next pvscan --cache"
}
# LVM sees only the devices named by a regex; settings for hosts without udev (test guests, rescue
# shells); no metadata backups of the image's VGs in the host's /etc/lvm.
nm_lvm_cfg() { # ACCEPT_OR_REJECT REGEX [extra activation settings]
  nm_lvm_known
  if [ "$1" = a ]; then nm_f="\"a|$2|\", \"r|.*|\""; else nm_f="\"r|$2|\", \"a|.*|\""; fi
  NM_CFG="devices { filter=[ $nm_f ] global_filter=[ $nm_f ]$NM_LV_DF } backup { backup=0 archive=0 } activation { monitoring=0 $3 }"
  [ -n "$NM_LVMETAD" ] && NM_CFG="$NM_CFG global {$NM_LVMETAD }"
  if [ ! -e /run/udev/control ]; then
    NM_CFG="$NM_CFG devices { obtain_device_list_from_udev=0 } activation { udev_sync=0 udev_rules=0 } global {$NM_LV_EA use_lvmpolld=0 }"
  fi
}
nm_devre() { NM_V="^/dev/$1(p[0-9]+)?\$"; }
nm_mounted() { # DIR [SRC]: listed in /proc/self/mounts (from SRC when given; read by the shell: no process; spaces are \040 there)
  nm_m=$1; nm_e=
  while :; do case $nm_m in *' '*) nm_e="$nm_e${nm_m%% *}\\040"; nm_m=${nm_m#* } ;; *) nm_e=$nm_e$nm_m; break ;; esac; done
  while read -r nm_a nm_b nm_r; do [ "$nm_b" = "$nm_e" ] && { [ -z "$2" ] || [ "$nm_a" = "$2" ] || [ "$nm_a" -ef "$2" ]; } && return 0; done < /proc/self/mounts
  return 1
}
# LVM escapes '-' as '--' in device-mapper names.
nm_dmesc() { nm_s=$1; NM_V=; while :; do case $nm_s in *-*) NM_V="$NM_V${nm_s%%-*}--"; nm_s=${nm_s#*-} ;; *) NM_V=$NM_V$nm_s; break ;; esac; done; }
nm_dmunesc() { nm_s=$1; NM_V=; while :; do case $nm_s in *--*) NM_V="$NM_V${nm_s%%--*}-"; nm_s=${nm_s#*--} ;; *) NM_V=$NM_V$nm_s; break ;; esac; done; }
nm_nodash() { nm_s=$1; NM_V=; while :; do case $nm_s in *-*) NM_V="$NM_V${nm_s%%-*}"; nm_s=${nm_s#*-} ;; *) NM_V=$NM_V$nm_s; break ;; esac; done; }
# Does process PID have WORD as one of its arguments? (is this device or server really ours)
# One grep -z where it reads NUL-separated lines (GNU, busybox); tr | grep where it cannot.
nm_pid_has() {
  [ -r "/proc/$1/cmdline" ] || return 1
  grep -qzxF -e "$2" "/proc/$1/cmdline" 2> /dev/null
  case $? in 0) return 0 ;; 1) return 1 ;; esac
  tr '\0' '\n' < "/proc/$1/cmdline" | grep -qxF -e "$2"
}
# The image format. qcow2 without a backing file is recognised by its header (QFI\xfb, backing file
# offset 0): the common case costs one od instead of a qemu-img start. Everything else asks
# qemu-img info (stable "file format:" line; --backing-chain fails on a broken chain); -U (read
# despite another process's lock) exists from qemu 2.10 on: an older qemu-img (1.5 on CentOS 7) has
# no locks to get past, and is asked again without it.
nm_detect_format() {
  nm_h=$(od -An -tx1 -N16 "$1" 2>/dev/null)
  case $(echo $nm_h) in
    "51 46 49 fb 00 00 00 02 00 00 00 00 00 00 00 00" | "51 46 49 fb 00 00 00 03 00 00 00 00 00 00 00 00") FMT=qcow2; return 0 ;;
  esac
  nm_o=$(qemu-img info -U --backing-chain "$1" 2>&1) || {
    case $nm_o in *"invalid option"*U* | *"unrecognized option"*force-share*) nm_o=$(qemu-img info --backing-chain "$1" 2>&1) ;; *) false ;; esac
  } || nm_die "cannot read $1 as a disk image: $(nm_last "$nm_o")"
  FMT=${nm_o#*file format: }; FMT=${FMT%%"$NM_NL"*}
  [ -n "$FMT" ] && [ "$FMT" != "$nm_o" ] || nm_die "qemu-img info did not name a format for $1"
  if [ "$FMT" = raw ] && [ -f "$1" ] && ! blkid -p -o export "$1" > /dev/null 2>&1; then
    nm_die "$1 is not a disk image: qemu-img reads it as raw, and it has no partition table, filesystem or LVM signature"
  fi
}
# Image locking came with qemu 2.10: qemu-nbd -V of an older one (1.5 says "version 0.0.1") means a
# disk another process has open (a running VM) would be served without complaint. NM_QLOCK=1 when
# qemu-nbd locks images itself.
nm_qemu_locks() {
  nm_v=$(qemu-nbd -V 2> /dev/null); nm_v=${nm_v%%"$NM_NL"*}; nm_v=${nm_v#*version }; nm_v=${nm_v#qemu-nbd }
  nm_ma=${nm_v%%.*}; nm_mi=${nm_v#*.}; nm_mi=${nm_mi%%[!0-9]*}
  case $nm_ma$nm_mi in '' | *[!0-9]*) NM_QLOCK=1; return 0 ;; esac
  if [ "$nm_ma" -gt 2 ] || { [ "$nm_ma" = 2 ] && [ "$nm_mi" -ge 10 ]; }; then NM_QLOCK=1; else NM_QLOCK=0; fi
}
# nm_held FILE: is FILE open in some process? (what the image lock would have told) The pid in NM_V,
# its name in NM_HELD_BY. Walks /proc/*/fd in the shell (a stat per descriptor, no process).
nm_held() {
  for nm_f in /proc/[0-9]*/fd/*; do
    [ "$nm_f" -ef "$1" ] || continue
    NM_V=${nm_f#/proc/}; NM_V=${NM_V%%/*}; NM_HELD_BY=; read -r NM_HELD_BY 2>/dev/null < "/proc/$NM_V/comm"
    return 0
  done
  return 1
}
# nm_refuse_held FILE WHAT: where qemu-nbd cannot lock, refuse an image another process has open.
# The open-file walk costs no process; qemu-nbd is asked for its version only when some process
# holds the image (qemu 2.10 and later leave that to their own locks, which allow shared readers).
nm_refuse_held() {
  nm_held "$1" || return 0
  nm_hp=$NM_V
  nm_qemu_locks
  [ "$NM_QLOCK" = 0 ] || return 0
  nm_die "$1 is in use by process $nm_hp (${NM_HELD_BY:-?}): a running VM or another qemu-nbd? This qemu-nbd has no image locking, so nbdforge looked at open files itself; $2"
}
# qemu's own lock failure ("Failed to get "write" lock", "Is another process using the image"), not
# any text with "lock" in it: qemu-nbd 1.5 names its /var/lock/qemu-nbd-DEV socket in other errors
nm_is_lock_error() { case $1 in *"Failed to get "*" lock"* | *"another process using the image"*) return 0 ;; esac; return 1; }
