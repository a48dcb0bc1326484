# step "serve": start qemu-nbd as an NBD server for the image, journaled like a map so that
# `nbdforge unmap IMAGE|--all` (or export --stop) stops it
# (args: STATE ID IMAGE FORMAT BIND PORT SOCKET PERSISTENT SHARED READONLY URL)
NM_STATE=$1; NM_ID=$2; IMG=$(readlink -f -- "$3") || nm_die "no such image: $3"; FMT=$4
bind=$5; port=$6; sock=$7; persistent=$8; shared=$9; shift 9; readonly=$1; url=$2
[ -e "$IMG" ] || nm_die "no such image: $IMG"
mkdir -p "$NM_STATE/maps" || nm_die "cannot create $NM_STATE/maps"
NM_J=$NM_STATE/maps/$NM_ID.jsonl; NM_SEQ=0
( set -C; : > "$NM_J" ) 2>/dev/null || nm_die "export $NM_ID already has a journal ($NM_J)"
[ -n "$FMT" ] || nm_detect_format "$IMG"
mode=rw; [ "$readonly" = 1 ] && mode=ro
nm_jw info export id "$NM_ID" image "$IMG" format "$FMT" mode "$mode" url "$url" started "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
pf=$NM_STATE/maps/$NM_ID.pid
set -- --fork --pid-file="$pf" --format="$FMT" --shared="$shared"
[ "$readonly" = 1 ] && set -- "$@" --read-only
[ "$persistent" = 1 ] && set -- "$@" --persistent
if [ -n "$sock" ]; then set -- "$@" --socket="$sock"; else set -- "$@" --bind="$bind" --port="$port"; fi
nm_begin export image "$IMG" pidfile "$pf" socket "$sock" url "$url"
out=$(qemu-nbd "$@" "$IMG" 2>&1) || {
  case $out in
    *lock*) nm_die "$IMG is locked by another process (a running VM or another qemu-nbd?): $(nm_last "$out")" ;;
    *) nm_die "qemu-nbd could not serve $IMG: $(nm_last "$out")" ;;
  esac
}
nm_done
