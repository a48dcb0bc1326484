# step "journal": the composite's journal with its header; paths made canonical here, because undo
# compares them with what the kernel reports (loop backing files).
# (args: STATE NAME VOLUME TABLE HEAD_SECTORS VOLUME_SECTORS TAIL_SECTORS READ_ONLY PART_DEV)
# a state directory another user could write would let them plant journals decompose obeys
umask 077
nm_safe_dir "$1" "state dir"
[ -d "$1/composes" ] || mkdir -p "$1/composes" || nm_die "cannot create $1/composes"
NM_STATE=$(cd -P -- "$1" && pwd) || nm_die "cannot enter $1"
NM_J=$NM_STATE/composes/$2.jsonl
# the volume's canonical path: cd -P resolves its directory in the shell (no process); readlink -f
# when the volume itself is a symlink (/dev/vg/lv)
VOL=; cm_b=${3##*/}
case $3 in /*) [ -e "$3" ] && [ ! -L "$3" ] && [ -n "$cm_b" ] && cd -P -- "${3%/*}/" 2> /dev/null && VOL=${PWD%/}/$cm_b ;; esac
[ -n "$VOL" ] || VOL=$(readlink -f -- "$3") || nm_die "no such volume: $3"
case $NM_STATE$VOL in *\"* | *\\*) nm_die "paths must not contain quotes or backslashes: $NM_STATE $VOL" ;; esac
NM_SEQ=0
( set -C; : > "$NM_J" ) 2> /dev/null || nm_die "a composite named $2 already exists ($NM_J): pick another --name, or run nbdforge decompose $2"
nm_jw info compose name "$2" volume "$VOL" table "$4" head "$5" sectors "$6" tail "$7" ro "$8" part "$9" dir "$NM_STATE/composes" started "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
