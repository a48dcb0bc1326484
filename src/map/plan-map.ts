import { type Plan, validatePlan } from '../host/plan.ts';
import { type Precondition, shc } from '../host/step.ts';
import { shellStep } from './steps.ts';
import type { ResolvedMap } from './request.ts';

export const NBD_MISSING =
  'the nbd module is not loaded on this host (no /sys/module/nbd, no /dev/nbd0): run `nbdforge prepare-host` to install and load it, then map again';

/**
 * map as a Plan: open the journal, attach, LVM, mount. The first step's undo is a full unmap of
 * this map's journal, so a failure at any later point (or Ctrl-C in an emitted script) takes back
 * exactly what was done, in reverse, and leaves nothing connected.
 */
export function planMap(m: ResolvedMap, seen?: string): Plan {
  const pre: Precondition[] = [
    {
      id: 'image-exists',
      describe: `${m.image} exists`,
      check: shc('[ -e "$1" ]', m.image),
      otherwise: 'refuse',
      message: `no such image: ${m.image}`,
    },
    ...imageChecks(m.stateDir, m.image, m.format, m.mode === 'rw' ? 'rw' : 'ro', m.allowExternal, m.sharedRo, seen),
  ];
  if (m.via === 'nbd') {
    pre.push({ id: 'nbd-loaded', describe: 'the nbd module is loaded', check: shc('[ -d /sys/module/nbd ] || [ -b /dev/nbd0 ]'), otherwise: 'refuse', message: NBD_MISSING });
  }
  // lvm is asked for only when the image has LVM PVs (the lvm step says so then)
  const tools = [...(m.via === 'nbd' ? ['qemu-nbd', 'qemu-img', 'blockdev'] : ['losetup', 'qemu-img']), 'blkid', 'mount'];
  pre.push({
    id: 'tools',
    describe: `${tools.join(', ')} are installed`,
    check: shc('m=; for t; do command -v "$t" >/dev/null 2>&1 || m="$m $t"; done; [ -z "$m" ] || { echo "missing:$m"; exit 1; }', ...tools),
    otherwise: 'refuse',
    message: 'required tools are missing (qemu-utils, util-linux)',
  });
  const what = m.mode === 'rw' ? 'read-write' : m.mode === 'snapshot' ? 'writable snapshot (changes discarded at unmap)' : 'read-only';
  return validatePlan({
    id: 'map',
    title: `map ${m.image} (${what}) through ${m.via === 'nbd' ? 'qemu-nbd' : 'a loop device'}, ${m.noMount ? 'nothing mounted (--no-mount)' : `mounts under ${m.mountRoot}`}`,
    preconditions: pre,
    steps: [
      {
        id: 'journal',
        describe: `start the journal ${m.journal}`,
        command: shellStep('open', m.stateDir, m.id, m.image, m.mode, m.via, m.format ?? '', m.offset === undefined ? '' : String(m.offset), m.mountRoot, m.autoRoot ? '1' : '0', mapFlags(m)),
        undo: unmapCommand(m.stateDir, `id:${m.id}`, false),
      },
      {
        id: 'connect',
        describe: m.via === 'nbd' ? 'detect the format, connect a free /dev/nbdN (qemu-nbd), rescan partitions' : 'attach a free loop device (losetup --partscan)',
        command: shellStep('connect', m.stateDir, m.id, m.sharedRo ? '1' : '0', ...m.allowExternal),
      },
      { id: 'lvm', describe: "find the image's volume groups, rename clashing ones, activate them", command: shellStep('lvm', m.stateDir, m.id) },
      {
        id: 'mount',
        describe: m.noMount ? 'list the filesystems, mount none (--no-mount)' : `mount every filesystem under ${m.mountRoot} (nosuid,nodev${m.exec ? '' : ',noexec'}; ext2/3/4 errors=remount-ro)`,
        command: shellStep('mount', m.stateDir, m.id),
      },
    ],
  });
}

/**
 * Before anything opens the image: what it is (a FIFO, a character device or an empty file is
 * refused), its format (from --format or its name; the header must agree; never probed) and every
 * file its layers reference (inside its own directory tree, or named by --allow-external); then one
 * writer per image (nbdforge's journals) and no read-write use of a block device the host uses.
 * SEEN: what checkImage (src/map/image-refs.ts) found where the plan was made ("chain: ..." or
 * "refused: ..."), shown in the plan; the target's shell decides.
 */
export function imageChecks(stateDir: string, image: string, format: string | undefined, mode: 'ro' | 'rw', allow: string[], sharedRo: boolean, seen?: string): Precondition[] {
  return [
    {
      id: 'image-refs',
      describe: `${image}: not a FIFO/character device/empty; format ${format ?? 'from its name, checked against its header'}; every backing file, data file and extent inside its directory${allow.length ? ` or allowed (${allow.join(', ')})` : ''}${seen ? `; here: ${seen}` : ''}`,
      check: shellStep('inspect', image, format ?? '', ...allow),
      otherwise: 'refuse',
      message: 'image check',
    },
    {
      id: 'one-writer',
      describe: `${image} is not mapped or exported ${mode === 'rw' ? 'at all' : 'read-write'} by another journal${mode === 'rw' ? ', and is no block device the host uses' : ''}`,
      check: shellStep('guard', stateDir, image, mode, sharedRo ? '1' : '0'),
      otherwise: 'refuse',
      message: 'one writer per image',
    },
  ];
}

/** The journal step's FLAGS word list: "exec" (no noexec), "nomount" (--no-mount). */
export function mapFlags(m: Pick<ResolvedMap, 'exec' | 'noMount'>): string {
  return [m.exec ? 'exec' : '', m.noMount ? 'nomount' : ''].filter(Boolean).join(' ');
}

export function unmapCommand(stateDir: string, selector: string, strict: boolean): string[] {
  return shellStep('unmap', stateDir, selector, strict ? '1' : '0');
}
