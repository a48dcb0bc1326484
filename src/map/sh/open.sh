# step "journal": check the state directory and the mount root, claim the mount root, create this
# map's journal with its header (args: STATE ID IMAGE MODE VIA FORMAT OFFSET ROOT AUTO_ROOT FLAGS)
# FLAGS: words "exec" (mount without noexec) and "nomount" (attach, partitions and LVM only)
NM_STATE=$1; NM_ID=$2
# everything this map creates (journal, directories) is root's alone
umask 077
# the image's canonical path: cd -P resolves its directory in the shell; readlink -f when the image
# itself is a symlink (or the path is unusual)
IMG=; nm_b=${3##*/}
case $3 in /*) [ -e "$3" ] && [ ! -L "$3" ] && [ -n "$nm_b" ] && [ "$nm_b" != . ] && [ "$nm_b" != .. ] && cd -P -- "${3%/*}/" 2> /dev/null && IMG=${PWD%/}/$nm_b ;; esac
[ -n "$IMG" ] || IMG=$(readlink -f -- "$3") || nm_die "no such image: $3"
MODE=$4; VIA=$5; FMT=$6; OFFSET=$7; ROOT=$8; nm_auto=$9; shift 9; nm_flags=" $1 "
nm_exec=0; case $nm_flags in *" exec "*) nm_exec=1 ;; esac
nm_mount=1; case $nm_flags in *" nomount "*) nm_mount=0 ;; esac
# a state directory another user could write would let them plant journals that root's unmap obeys;
# a mount root below a directory they could write, links to follow (both in one check)
if [ "$nm_mount" = 1 ]; then nm_safe_dir "$NM_STATE" "state dir" "$ROOT" "mount root"; else nm_safe_dir "$NM_STATE" "state dir"; fi
[ -d "$NM_STATE/maps" ] || mkdir -p "$NM_STATE/maps" || nm_die "cannot create $NM_STATE/maps"
NM_J=$NM_STATE/maps/$NM_ID.jsonl
[ -e "$NM_J" ] || [ -L "$NM_J" ] && nm_die "map $NM_ID already has a journal ($NM_J): this plan already ran; run unmap first"
case $IMG in *\"* | *\\*) nm_die "image path must not contain quotes or backslashes: $IMG" ;; esac
# The mount root: no directory above it that another user could write or swap; made here by mkdir,
# which is the claim (atomic: two maps started together never share one). A default root gets a -2,
# -3... suffix while it exists; a given one must not exist yet. Missing parents are made too.
# Under the state dir's lock (as unmap removes directories): a parent made by another map is seen
# with its journal record, so it is adopted (below), never lost between the two.
nm_made=
if [ "$nm_mount" = 1 ]; then
  [ -d "$NM_STATE/locks" ] || mkdir -p "$NM_STATE/locks"
  nm_lock "$NM_STATE/locks/alloc"
  [ "$nm_auto" = 1 ] || { [ ! -e "$ROOT" ] && [ ! -L "$ROOT" ]; } || nm_die "mount root $ROOT exists: give a path that does not exist yet (nbdforge makes it, root's alone, and removes it at unmap)"
  nm_p=${ROOT%/*}; nm_up=
  while [ -n "$nm_p" ] && [ ! -d "$nm_p" ]; do nm_up="$nm_p$NM_NL$nm_up"; nm_p=${nm_p%/*}; done
  # a parent another live map made (/mnt/nbdforge) is recorded here too: whichever map is unmapped
  # last removes it (rmdir: only once it is empty)
  nm_mk=
  for nm_j in "$NM_STATE"/maps/*.jsonl; do [ -e "$nm_j" ] && nm_mk=$(grep -h '"kind":"mkdir"' "$NM_STATE"/maps/*.jsonl 2> /dev/null); break; done
  while [ -n "$nm_mk" ] && [ -n "$nm_p" ]; do
    case $nm_mk in *"\"dir\":\"$nm_p\"}"*) nm_made="$nm_p$NM_NL$nm_made" ;; esac
    nm_p=${nm_p%/*}
  done
  while IFS= read -r nm_p; do
    [ -n "$nm_p" ] || continue
    if mkdir "$nm_p" 2> /dev/null; then nm_made="$nm_made$nm_p$NM_NL"
    else [ -d "$nm_p" ] && [ ! -L "$nm_p" ] || nm_die "cannot create $nm_p"; fi
  done <<NM_EOF
$nm_up
NM_EOF
  nm_base=$ROOT; nm_i=1
  until mkdir "$ROOT" 2> /dev/null; do
    { [ "$nm_auto" = 1 ] && { [ -e "$ROOT" ] || [ -L "$ROOT" ]; }; } || nm_die "cannot create the mount root $ROOT"
    nm_i=$((nm_i + 1)); ROOT=$nm_base-$nm_i
  done
  nm_made="$nm_made$ROOT$NM_NL"
else
  ROOT=
fi
NM_SEQ=0
( set -C; : > "$NM_J" ) 2>/dev/null || nm_die "map $NM_ID already has a journal ($NM_J)"
nm_jw info map id "$NM_ID" image "$IMG" mode "$MODE" via "$VIA" format "$FMT" offset "$OFFSET" root "$ROOT" exec "$nm_exec" mount "$nm_mount" started "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
# the directories made above, for unmap to remove (the journal could not be written before the claim)
while IFS= read -r nm_p; do [ -n "$nm_p" ] && { nm_begin mkdir dir "$nm_p"; nm_done; }; done <<NM_EOF
$nm_made
NM_EOF
nm_unlock
exit 0
