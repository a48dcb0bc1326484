# precondition "image": what IMAGE is and every file it references, read without qemu (nothing has
# opened it yet: a FIFO, a character device or an empty file is refused before any read).
# (args: IMAGE FORMAT [ALLOWED_EXTERNAL]...) Prints the reason and exits 1 on refusal.
nm_img=$1; nm_fmt=$2; shift 2
NM_ALLOW=
for nm_a; do NM_ALLOW=$NM_ALLOW$nm_a$NM_NL$(readlink -f -- "$nm_a" 2>/dev/null)$NM_NL; done
nm_inspect "$nm_img" "$nm_fmt" 2>/dev/null || { printf '%s\n' "$NM_WHY"; exit 1; }
printf 'chain: %s\n' "$NM_CHAIN"
