# Member-name checks for archives the builder unpacks (sourced by build.sh; tested on the host).
# Reads names (one a line) on stdin; prints the first that would leave the extraction directory:
# an absolute name or one with a `..` component.
bad_name() {
  awk '{ n = $0; sub(/^\.\//, "", n) }
       n ~ /^\// || n ~ /(^|\/)\.\.(\/|$)/ { print $0; exit }'
}
# Reads `cpio -tv` lines on stdin; prints "name -> target" for the first symlink whose target is
# absolute or climbs above the extraction directory (a later member could be written through it).
bad_link() {
  awk '$1 ~ /^l/ {
         i = index($0, " -> "); if (i == 0) next
         target = substr($0, i + 4); name = $9
         sub(/^\.\//, "", name)
         if (target ~ /^\//) { print name " -> " target; exit }
         depth = split(name, p, "/") - 1
         m = split(target, t, "/")
         for (j = 1; j <= m; j++) {
           if (t[j] == "..") depth--; else if (t[j] != "." && t[j] != "") depth++
           if (depth < 0) { print name " -> " target; exit }
         }
       }'
}
