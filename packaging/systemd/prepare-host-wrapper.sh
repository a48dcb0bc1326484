#!/bin/sh
# /usr/libexec/nbdforge/prepare-host for hosts that run Node >= 20 and the nbdforge CLI:
# plans from the store each boot, so a new kernel picks up its module as soon as the store has it.
# Settings come from /etc/default/nbdforge (NBDFORGE_STORE=dir-or-url, NBDFORGE_NBD_OPTIONS='...').
[ -r /etc/default/nbdforge ] && . /etc/default/nbdforge
exec nbdforge prepare-host --from "${NBDFORGE_STORE:-/var/lib/nbdforge/store}" --options "${NBDFORGE_NBD_OPTIONS:-nbds_max=16 max_part=15}"
