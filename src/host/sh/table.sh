# Epilogue of an emitted map script: what is mounted where, from the journal (read once).
nm_table() { # JOURNAL
  NM_ALL=; while IFS= read -r nm_l; do NM_ALL=$NM_ALL$nm_l$NM_NL; done < "$1"
  nm_get root "${NM_ALL%%"$NM_NL"*}"; if [ -n "$NM_V" ]; then printf 'mounted under %s\n' "$NM_V"; else echo "nothing mounted (--no-mount)"; fi
  nm_labs=
  nm_each nm_table_vg
  printf '%-28s %-12s %-16s %-40s %s\n' DEVICE TYPE LABEL MOUNTED-AT OPTIONS
  nm_each nm_table_fs
}
# renamed VGs; the label of every device ("DEV|LABEL" lines in nm_labs, in the journal's order; a
# label's control characters shown as \u00XX)
nm_table_vg() {
  case $1 in
    *'"ev":"begin","kind":"rename"'* | *'"ev":"begin","kind":"importclone"'*)
      nm_get from "$1"; nm_f=$NM_V; nm_get to "$1"; nm_to=$NM_V; nm_get persist "$1"
      if [ "$NM_V" = 1 ]; then printf 'VG %s is active as %s (renamed in the image; renamed back at unmap)\n' "$nm_f" "$nm_to"
      else printf 'VG %s is active as %s (renamed on the snapshot overlay; the image is unchanged)\n' "$nm_f" "$nm_to"; fi ;;
    *'"kind":"format"'*) nm_get chain "$1" && printf 'image: %s\n' "$NM_V" ;;
    *'"kind":"blk"'*)
      nm_get dev "$1"; nm_d=$NM_V; nm_get label "$1"
      case $NM_V in *[[:cntrl:]]*) nm_enc "$NM_V" ;; esac
      nm_labs="$nm_labs$nm_d|$NM_V$NM_NL" ;;
  esac
}
# The fs records come in the blk records' order, so the label is nearly always the next line of
# nm_labs (taken off as it is used): a search of the whole list (which costs its length per line,
# and an image can give 251 partitions) only when it is not.
nm_table_fs() {
  case $1 in *'"kind":"fs"'*) ;; *) return 0 ;; esac
  nm_get dev "$1"; nm_d=$NM_V; nm_get type "$1"; nm_t=${NM_V:--}
  nm_lab=-
  nm_h=${nm_labs%%"$NM_NL"*}
  case $nm_h in
    "$nm_d|"*) nm_lab=${nm_h#"$nm_d|"}; nm_lab=${nm_lab:--}; nm_labs=${nm_labs#"$nm_h$NM_NL"} ;;
    *) case $NM_NL$nm_labs in *"$NM_NL$nm_d|"*) nm_lab=${nm_labs#*"$nm_d|"}; nm_lab=${nm_lab%%"$NM_NL"*}; nm_lab=${nm_lab:--} ;; esac ;;
  esac
  nm_get dir "$1"; nm_m=$NM_V; nm_get opts "$1"; nm_o=$NM_V
  if [ -z "$nm_m" ]; then nm_get why "$1"; nm_m="($NM_V)"; nm_o=-; fi
  printf '%-28s %-12s %-16s %-40s %s\n' "$nm_d" "$nm_t" "$nm_lab" "$nm_m" "$nm_o"
}
