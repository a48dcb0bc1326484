# Epilogue of an emitted map script: what is mounted where, from the journal.
nm_table() { # JOURNAL
  IFS= read -r nm_l < "$1"; nm_get root "$nm_l"; printf 'mounted under %s\n' "$NM_V"
  while IFS= read -r nm_l; do
    case $nm_l in *'"ev":"begin","kind":"rename"'* | *'"ev":"begin","kind":"importclone"'*)
      nm_get from "$nm_l"; nm_f=$NM_V; nm_get to "$nm_l"; nm_to=$NM_V; nm_get persist "$nm_l"
      if [ "$NM_V" = 1 ]; then printf 'VG %s is active as %s (renamed in the image; renamed back at unmap)\n' "$nm_f" "$nm_to"
      else printf 'VG %s is active as %s (renamed on the snapshot overlay; the image is unchanged)\n' "$nm_f" "$nm_to"; fi ;;
    esac
  done < "$1"
  printf '%-28s %-12s %-16s %-40s %s\n' DEVICE TYPE LABEL MOUNTED-AT OPTIONS
  while IFS= read -r nm_l; do
    case $nm_l in *'"kind":"fs"'*) ;; *) continue ;; esac
    nm_get dev "$nm_l"; nm_d=$NM_V; nm_get type "$nm_l"; nm_t=${NM_V:--}
    nm_lab=-; while IFS= read -r nm_b; do case $nm_b in *'"kind":"blk"'*"\"dev\":\"$nm_d\""*) nm_get label "$nm_b"; nm_lab=${NM_V:--} ;; esac; done < "$1"
    nm_get dir "$nm_l"; nm_m=$NM_V; nm_get opts "$nm_l"; nm_o=$NM_V
    if [ -z "$nm_m" ]; then nm_get why "$nm_l"; nm_m="($NM_V)"; nm_o=-; fi
    printf '%-28s %-12s %-16s %-40s %s\n' "$nm_d" "$nm_t" "$nm_lab" "$nm_m" "$nm_o"
  done < "$1"
}
