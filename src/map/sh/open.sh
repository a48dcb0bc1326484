# step "journal": create this map's journal with its header (args: STATE ID IMAGE MODE VIA FORMAT OFFSET ROOT AUTO_ROOT)
NM_STATE=$1; NM_ID=$2
# the image's canonical path: cd -P resolves its directory in the shell; readlink -f when the image
# itself is a symlink (or the path is unusual)
IMG=; nm_b=${3##*/}
case $3 in /*) [ -e "$3" ] && [ ! -L "$3" ] && [ -n "$nm_b" ] && [ "$nm_b" != . ] && [ "$nm_b" != .. ] && cd -P -- "${3%/*}/" 2> /dev/null && IMG=${PWD%/}/$nm_b ;; esac
[ -n "$IMG" ] || IMG=$(readlink -f -- "$3") || nm_die "no such image: $3"
MODE=$4; VIA=$5; FMT=$6; OFFSET=$7; ROOT=$8
[ -d "$NM_STATE/maps" ] || mkdir -p "$NM_STATE/maps" || nm_die "cannot create $NM_STATE/maps"
NM_J=$NM_STATE/maps/$NM_ID.jsonl
[ -e "$NM_J" ] && nm_die "map $NM_ID already has a journal ($NM_J): this plan already ran; run unmap first"
# A default mount root gets a -2, -3... suffix while another live map uses it or it is a non-empty directory.
nm_root_used() {
  # (grep only when there are journals)
  for nm_j in "$NM_STATE"/maps/*.jsonl; do [ -e "$nm_j" ] && grep -qsF "\"root\":\"$1\"" "$NM_STATE"/maps/*.jsonl && return 0; break; done
  [ -d "$1" ] && [ -n "$(ls -A "$1" 2>/dev/null)" ]
}
if [ "$9" = 1 ]; then
  nm_base=$ROOT; nm_i=1
  while nm_root_used "$ROOT"; do nm_i=$((nm_i + 1)); ROOT=$nm_base-$nm_i; done
elif nm_root_used "$ROOT"; then
  nm_die "mount root $ROOT is in use (another map, or a non-empty directory)"
fi
case $IMG in *\"* | *\\*) nm_die "image path must not contain quotes or backslashes: $IMG" ;; esac
NM_SEQ=0
( set -C; : > "$NM_J" ) 2>/dev/null || nm_die "map $NM_ID already has a journal ($NM_J)"
nm_jw info map id "$NM_ID" image "$IMG" mode "$MODE" via "$VIA" format "$FMT" offset "$OFFSET" root "$ROOT" started "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
