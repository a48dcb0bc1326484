import { type Plan, validatePlan } from '../host/plan.ts';
import { shc } from '../host/step.ts';
import { composeStep } from './steps.ts';
import { type ComposeRequest, composeNames } from './request.ts';
import type { ResolvedTable } from './table.ts';

export const DM_MISSING =
  'device-mapper is not available on this host (no device-mapper in /proc/misc; /dev/mapper/control alone proves nothing): load it with `modprobe dm-mod`, or write the composite as a file with --to-file OUT';

/**
 * compose: preconditions refuse before anything changes (exit 3); then the journal, the head and tail
 * files (their bytes travel with the plan, so an emitted script needs nothing but sh, dd, losetup
 * and dmsetup), the loop devices and the device-mapper devices. The journal step's undo is a full
 * decompose of this composite, so any failure, or Ctrl-C of an emitted script, takes all of it back.
 */
export function planCompose(req: ComposeRequest, t: ResolvedTable, volumeBytes: number): Plan {
  const n = composeNames(req.stateDir, req.name);
  const l = t.layout;
  const pre: Plan['preconditions'] = [
    { id: 'volume', describe: `${req.volume} is a block device`, check: shc('[ -b "$1" ] || { [ -e "$1" ] && echo "$1 is not a block device"; exit 1; }', req.volume), otherwise: 'refuse', message: `no such block device: ${req.volume} (a regular file: attach it with losetup --find --show FILE first, or use --to-file OUT)` },
    {
      id: 'volume-free',
      describe: `${req.volume} is not mounted or held by another device`,
      // by major:minor (a dm volume is mounted as /dev/mapper/X and named /dev/VG/LV): mountinfo, holders
      check: shc(
        'set -- "$1" $(LC_ALL=C ls -lnL -- "$1"); mm=${6%,}:$7; while read -r i p d r m x; do [ "$d" = "$mm" ] && { echo "$1 is mounted on $m"; exit 1; }; done < /proc/self/mountinfo; for h in /sys/dev/block/$mm/holders/*; do [ -e "$h" ] && { echo "$1 is held by ${h##*/}"; exit 1; }; done; exit 0',
        req.volume,
      ),
      otherwise: 'refuse',
      message: `${req.volume} is in use (mounted, or held by another device): unmount or release it first; a composite over it would be a second writer, and device-mapper refuses a volume a filesystem holds`,
    },
    { id: 'device-mapper', describe: 'device-mapper is loaded', check: shc('[ -e /sys/class/misc/device-mapper ] || grep -qw device-mapper /proc/misc'), otherwise: 'refuse', message: DM_MISSING },
    { id: 'tools', describe: 'dmsetup, losetup and blkid are installed', check: shc('for t in dmsetup losetup blkid dd; do command -v $t > /dev/null || { echo "missing: $t"; exit 1; }; done'), otherwise: 'refuse', message: 'tools missing (install dmsetup and util-linux)' },
    {
      id: 'size',
      describe: `${req.volume} is ${volumeBytes} bytes, the size the table was made for`,
      check: shc('s=$(blockdev --getsize64 "$1") && [ "$s" = "$2" ] || { echo "it is ${s:-unreadable}"; exit 1; }', req.volume, String(volumeBytes)),
      otherwise: 'refuse',
      message: `${req.volume} is not the ${volumeBytes} bytes the partition table was computed for`,
    },
    {
      id: 'name-free',
      describe: `no composite or device-mapper device is named ${req.name} or ${n.partName}`,
      check: shc('[ ! -e "$1" ] || { echo "journal $1 exists"; exit 1; }; for d in /sys/block/dm-*/dm/name; do [ -e "$d" ] || continue; read -r x < "$d"; [ "$x" = "$2" ] || [ "$x" = "$3" ] && { echo "device-mapper device $x exists"; exit 1; }; done; exit 0', n.journal, req.name, n.partName),
      otherwise: 'refuse',
      message: `the name ${req.name} is in use: pick another --name, or take the old one apart with \`nbdforge decompose ${req.name}\``,
    },
  ];
  if (!req.force)
    pre.push({
      id: 'unpartitioned',
      describe: `${req.volume} has no partition table of its own`,
      check: shc('t=$(blkid -p -o value -s PTTYPE "$1" 2> /dev/null); [ -z "$t" ] || { echo "blkid found a $t partition table on $1"; exit 1; }', req.volume),
      otherwise: 'refuse',
      message: `${req.volume} already has a partition table, so it is already a disk: composing would nest one disk inside another (--force does it anyway)`,
    });
  const steps: Plan['steps'] = [
    {
      id: 'journal',
      describe: `start the journal ${n.journal}`,
      command: composeStep('open', req.stateDir, req.name, req.volume, l.table, String(l.headSectors), String(l.volumeSectors), String(l.tailSectors), req.readOnly ? '1' : '0', n.partName),
      undo: decomposeCommand(req.stateDir, `name:${req.name}`, false),
    },
    { id: 'head', describe: `write the ${l.table === 'gpt' ? 'protective MBR, GPT header and entries' : 'MBR'} (${l.headSectors} sectors)`, command: composeStep('file', req.stateDir, req.name, 'head', String(l.headSectors)), stdin: t.bytes.head },
  ];
  if (l.tailSectors) steps.push({ id: 'tail', describe: `write the backup GPT entries and header (${l.tailSectors} sectors)`, command: composeStep('file', req.stateDir, req.name, 'tail', String(l.tailSectors)), stdin: t.bytes.tail });
  steps.push(
    { id: 'loops', describe: 'attach the head (and tail) as read-only loop devices', command: composeStep('attach', req.stateDir, req.name) },
    { id: 'dm', describe: `create ${n.dev} (head, volume, tail) and ${n.partDev}`, command: composeStep('dm', req.stateDir, req.name, n.uuid, n.partUuid, String(l.headSectors + l.volumeSectors)) },
  );
  return validatePlan({ id: 'compose', title: `present ${req.volume} as ${n.dev}, a ${l.table.toUpperCase()} disk whose partition 1 is the volume`, preconditions: pre, steps });
}

export function decomposeCommand(stateDir: string, selector: string, strict: boolean): string[] {
  return composeStep('decompose', stateDir, selector, strict ? '1' : '0');
}

export function planDecompose(stateDir: string, target: { all: true } | { name: string }): Plan {
  const sel = 'all' in target ? 'all' : `name:${target.name}`;
  return validatePlan({
    id: 'decompose',
    title: `take apart ${'all' in target ? 'every composite' : target.name} (journals in ${stateDir}/composes)`,
    preconditions: [],
    steps: [{ id: 'decompose', describe: 'remove the device-mapper devices, detach the loop devices, delete the head and tail files: newest first, from the journals', command: decomposeCommand(stateDir, sel, !('all' in target)) }],
  });
}
