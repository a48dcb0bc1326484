# step "head"/"tail": write the table bytes (stdin) to <name>.<which>, extended with zeros (a hole)
# to its size. (args: STATE NAME WHICH SECTORS)
cm_open "$1" "$2"
cm_f=$CM_D/$2.$3
nm_begin file path "$cm_f"
cat > "$cm_f" || nm_die "cannot write $cm_f"
dd if=/dev/null of="$cm_f" bs=512 seek="$4" 2> /dev/null || nm_die "cannot extend $cm_f to $4 sectors"
nm_done
