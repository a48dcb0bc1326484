# step "serve": start qemu-nbd as an NBD server for the image, journaled like a map so that
# `nbdforge unmap IMAGE|--all` (or export --stop) stops it
# (args: STATE ID IMAGE FORMAT BIND PORT SOCKET PERSISTENT SHARED READONLY URL)
NM_STATE=$1; NM_ID=$2; IMG=$(readlink -f -- "$3") || nm_die "no such image: $3"; FMT=$4
bind=$5; port=$6; sock=$7; persistent=$8; shared=$9; shift 9; readonly=$1; url=$2
[ -e "$IMG" ] || nm_die "no such image: $IMG"
umask 077
nm_safe_dir "$NM_STATE" "state dir"
# what can fail before anything is served fails before the journal exists (no empty journal left)
[ -n "$FMT" ] || nm_detect_format "$IMG"
mkdir -p "$NM_STATE/maps" || nm_die "cannot create $NM_STATE/maps"
NM_J=$NM_STATE/maps/$NM_ID.jsonl; NM_SEQ=0
( set -C; : > "$NM_J" ) 2>/dev/null || nm_die "export $NM_ID already has a journal ($NM_J)"
mode=rw; [ "$readonly" = 1 ] && mode=ro
nm_jw info export id "$NM_ID" image "$IMG" format "$FMT" mode "$mode" url "$url" started "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
pf=$NM_STATE/maps/$NM_ID.pid
# qemu-nbd 2.12+ daemonises itself once it listens (--fork, --pid-file); an older one (1.5 on CentOS
# 7) serves in the foreground: this step backgrounds it, records its pid and waits for the socket or
# port itself. 1.5 also wants --shared >= 1 (0, unlimited, becomes 65535 there) and has no image
# locking (the image must then be open nowhere else).
nm_help=$(qemu-nbd --help 2>&1)
fork=0; case $nm_help in *--fork*--pid-file* | *--pid-file*--fork*) fork=1 ;; esac
[ "$fork" = 0 ] && [ "$shared" = 0 ] && shared=65535
set -- --format="$FMT" --shared="$shared"
[ "$fork" = 1 ] && set -- --fork --pid-file="$pf" "$@"
[ "$readonly" = 1 ] && set -- "$@" --read-only
[ "$persistent" = 1 ] && set -- "$@" --persistent
if [ -n "$sock" ]; then set -- "$@" --socket="$sock"; else set -- "$@" --bind="$bind" --port="$port"; fi
nm_refuse_held "$IMG" "nothing was served"
nm_begin export image "$IMG" pidfile "$pf" socket "$sock" url "$url"
nm_serve_failed() {
  nm_is_lock_error "$1" && nm_die "$IMG is locked by another process (a running VM or another qemu-nbd?): $(nm_last "$1")"
  nm_die "qemu-nbd could not serve $IMG: $(nm_last "$1")"
}
if [ "$fork" = 1 ]; then
  out=$(qemu-nbd "$@" "$IMG" 2>&1) || nm_serve_failed "$out"
else
  # nothing of this script's may stay open in the server (a runner waits for its output to end)
  log=$NM_STATE/maps/$NM_ID.log
  qemu-nbd "$@" "$IMG" < /dev/null > "$log" 2>&1 &
  qpid=$!
  echo "$qpid" > "$pf"
  # listening: the unix socket exists, or the port is in LISTEN (0A) state in /proc/net/tcp{,6}
  hex=$(printf '%04X' "$port"); nm_i=0
  while :; do
    kill -0 "$qpid" 2> /dev/null || { wait "$qpid"; out=; while IFS= read -r l; do out="$out$l$NM_NL"; done < "$log"; nm_serve_failed "${out%"$NM_NL"}"; }
    if [ -n "$sock" ]; then [ -S "$sock" ] && break
    else
      up=0
      for t in /proc/net/tcp /proc/net/tcp6; do
        [ -r "$t" ] || continue
        while read -r sl la ra st rest; do case $la:$st in *":$hex:0A") up=1; break ;; esac; done < "$t"
        [ "$up" = 1 ] && break
      done
      [ "$up" = 1 ] && break
    fi
    nm_i=$((nm_i + 1)); [ $nm_i -gt 150 ] && { kill "$qpid" 2> /dev/null; nm_die "qemu-nbd (pid $qpid) did not start listening on ${sock:-port $port} within 15 s (its output: $log)"; }
    sleep 0.1
  done
fi
nm_done
