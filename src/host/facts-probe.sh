# nbdforge host facts: POSIX sh, read-only, one "key=value" per line (keys may repeat).
# Run as `sh -c "$(cat facts-probe.sh)"` locally, over `ssh host sh -s`, or in a guest.
PATH=$PATH:/usr/sbin:/usr/bin:/sbin:/bin
k=$(uname -r)
m=/lib/modules/$k
echo "kernel=$k"
echo "machine=$(uname -m)"
echo "uid=$(id -u)"
[ -d "$m" ] && echo "moddir=$m"
[ -d /sys/module/nbd ] && echo "nbd_loaded=yes"
[ -r /sys/module/nbd/initstate ] && echo "nbd_initstate=$(cat /sys/module/nbd/initstate)"
if [ -d /sys/module/nbd/parameters ]; then
  for p in /sys/module/nbd/parameters/*; do [ -r "$p" ] && echo "nbd_param=${p##*/}=$(cat "$p")"; done
fi
[ -f "$m/modules.builtin" ] && grep -q '/nbd\.ko$' "$m/modules.builtin" && echo "nbd_builtin=yes"
[ -d "$m" ] && find "$m" -name 'nbd.ko*' -type f 2>/dev/null | sort | while IFS= read -r f; do echo "nbd_installed=$f"; done
if [ -f "$m/extra/nbd.ko" ]; then s=$(sha256sum "$m/extra/nbd.ko" 2>/dev/null); echo "extra_sha256=${s%% *}"; fi
[ -r /sys/module/module/parameters/sig_enforce ] && echo "sig_enforce=$(cat /sys/module/module/parameters/sig_enforce)"
[ -r /proc/sys/kernel/modules_disabled ] && echo "modules_disabled=$(cat /proc/sys/kernel/modules_disabled)"
[ -r /sys/kernel/security/lockdown ] && echo "lockdown=$(cat /sys/kernel/security/lockdown)"
[ -r /proc/sys/kernel/tainted ] && echo "tainted=$(cat /proc/sys/kernel/tainted)"
# vermagic of a module shipped with this kernel: what the kernel's own build wrote
ref=$(find "$m/kernel" -name '*.ko*' -type f 2>/dev/null | head -n 1)
[ -n "$ref" ] && command -v modinfo >/dev/null 2>&1 && echo "vermagic=$(modinfo -F vermagic "$ref" 2>/dev/null)"
for t in modprobe depmod modinfo sha256sum base64 rmmod; do
  p=$(command -v "$t" 2>/dev/null) && echo "tool=$t=$p"
done
exit 0
