# step "serve": start qemu-nbd as an NBD server for the image, journaled like a map so that
# `nbdforge unmap IMAGE|--all` (or export --stop) stops it
# (args: STATE ID IMAGE FORMAT BIND PORT SOCKET PERSISTENT SHARED READONLY URL GROUP AUTO_SOCKET SHARED_RO [ALLOWED]...)
NM_STATE=$1; NM_ID=$2; IMG=$(readlink -f -- "$3") || nm_die "no such image: $3"; FMT=$4
bind=$5; port=$6; sock=$7; persistent=$8; shared=$9; shift 9; readonly=$1; url=$2; group=$3; autosock=$4; nm_sro=$5
if [ $# -ge 5 ]; then shift 5; else set --; fi
[ -e "$IMG" ] || nm_die "no such image: $IMG"
umask 077
nm_safe_dir "$NM_STATE" "state dir"
# what can fail before anything is served fails before the journal exists (no empty journal left)
NM_ALLOW=; for nm_a; do NM_ALLOW=$NM_ALLOW$nm_a$NM_NL$(readlink -f -- "$nm_a" 2>/dev/null)$NM_NL; done
nm_given=$FMT
nm_inspect "$IMG" "$FMT" || nm_die "refused: $NM_WHY"
# raw only because nothing said otherwise (no --format, a name like .txt): it must look like a disk
# (a .raw name or --format raw serves any bytes, a blank disk too)
nm_byname "$IMG"
if [ -z "$nm_given" ] && [ -z "$NM_V" ] && [ "$FMT" = raw ] && [ -f "$IMG" ] && ! blkid -p -o export "$IMG" > /dev/null 2>&1; then
  nm_die "$IMG is not a disk image: it reads as raw, and it has no partition table, filesystem or LVM signature"
fi
nm_bdev_busy "$IMG" && nm_warn "$NM_WHY: this read-only export may show it inconsistent"
# a name given to --bind is resolved here (127.0.0.1.example.com is a name), and qemu-nbd binds the
# address that was checked
if [ -z "$sock" ]; then
  nm_lit=0
  case $bind in *[!0-9.]*) ;; *.*.*.*) nm_lit=1 ;; esac
  case $bind in *:*) case $bind in *[!0-9a-fA-F:]*) ;; *) nm_lit=1 ;; esac ;; esac
  if [ "$nm_lit" = 0 ]; then
    nm_r=$(getent ahosts "$bind" 2>/dev/null) || nm_die "--bind $bind: cannot resolve it on this host (give an address)"
    nm_r=${nm_r%%"$NM_NL"*}; nm_r=${nm_r%% *}; [ -n "$nm_r" ] || nm_die "--bind $bind: no address"
    bind=$nm_r
  fi
  case $bind in
    127.*.*.* | ::1) nm_warn "served over TCP on $bind port $port: every local user can connect (the default, a Unix socket, is root-only)" ;;
    *) nm_warn "served over TCP on $bind port $port, not loopback: anyone who reaches it can connect, without authentication" ;;
  esac
fi
# the default socket: its own directory (0700) under a base only root can write
nm_sockdir=
if [ "$autosock" = 1 ]; then
  nm_sockdir=${sock%/*}; nm_sb=${nm_sockdir%/*}
  [ -d "$nm_sb" ] || mkdir -p -m 0711 "$nm_sb" || nm_die "cannot create $nm_sb"
  [ -L "$nm_sb" ] && nm_die "$nm_sb is a symlink: refusing to put sockets through it"
  nm_ls=$(ls -ldn "$nm_sb"); set -- $nm_ls
  case $1 in d????-??-*) ;; *) nm_die "$nm_sb ($1) is writable by others: refusing to put sockets there" ;; esac
  [ "$3" = 0 ] || nm_die "$nm_sb is owned by uid $3, not root: refusing to put sockets there"
fi
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
nm_jw info format format "$FMT" chain "$NM_CHAIN"
nm_refuse_held "$IMG" "nothing was served"
# one writer per image again, under the lock maps take too, so exports and maps started together
# cannot both pass
[ -d "$NM_STATE/locks" ] || mkdir -p "$NM_STATE/locks"
nm_lock "$NM_STATE/locks/alloc"
nm_writers "$NM_STATE" "$IMG" "$mode" "$nm_sro" "$NM_J" && nm_die "refused: $NM_WHY"
nm_begin export image "$IMG" pidfile "$pf" socket "$sock" sockdir "$nm_sockdir" url "$url"
nm_unlock
[ -z "$nm_sockdir" ] || mkdir -m 0700 "$nm_sockdir" || nm_die "cannot create $nm_sockdir"
# qemu-nbd makes the socket with this umask: nobody else can connect before it is handed to a group
umask 077
cd -- "${IMG%/*}/" || nm_die "cannot enter ${IMG%/*}"
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
if [ -n "$group" ]; then
  nm_i=0; while [ ! -S "$sock" ] && [ $nm_i -lt 150 ]; do nm_i=$((nm_i + 1)); sleep 0.1; done
  { chgrp "$group" "$sock" && chmod 0660 "$sock"; } || nm_die "cannot give $sock to group $group"
  [ "$autosock" = 1 ] && { { chgrp "$group" "$nm_sockdir" && chmod 0750 "$nm_sockdir"; } || nm_die "cannot give $nm_sockdir to group $group"; }
fi
nm_done
