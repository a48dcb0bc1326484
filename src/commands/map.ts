import { type Command, parse, UsageError } from './context.ts';
import { resolveMap, parseOffset, type MapMode } from '../map/request.ts';
import { runMap } from '../map/run.ts';
import { seenHere } from '../map/image-refs.ts';
import { renderMounts } from '../host/journal.ts';
import { targetOptions, targetFrom, targetPath, finish, TARGET_USAGE, generatorOf } from './host-cli.ts';

const usage = `Usage: nbdforge map IMAGE [--rw | --snapshot] [--mount-root DIR | --no-mount] [--exec] [--loop [--offset N]]
                    [--format F] [--allow-external PATH]... [--shared-ro] [--json]

Attaches a disk image (qcow2 with its backing chain, raw, vmdk, vdi, vhdx, ...) or a block device
to a free /dev/nbdN with qemu-nbd (or a loop device with --loop), rescans its partitions, activates
its LVM volume groups and mounts every filesystem under one directory per image. Prints what is
mounted where. Every action is journaled before and after it runs: \`nbdforge unmap\` undoes them
exactly, also after the map was killed or the host rebooted.

Modes:
  (default)         read-only: qemu-nbd --snapshot (the image stays bit-for-bit unchanged), every
                    filesystem mounted ro (ext3/4 with noload, XFS with norecovery,nouuid)
  Every mount is nosuid,nodev,noexec (the image's setuid files and device nodes grant nothing);
  ext2/3/4 get errors=remount-ro whatever the superblock says; a filesystem is mounted once, and
  read-only where partitions overlap. The host kernel still parses each filesystem: for an image
  from a stranger, --no-mount (see the README's trust model).
  --snapshot        writable, but every write goes to a throw-away overlay dropped at unmap
  --rw              writes reach the image. A VG renamed because its name clashed is renamed
                    back at unmap; a byte-identical clone is refused (it would need new UUIDs)

Options:
  --mount-root DIR  mount under DIR, which must not exist yet: nbdforge makes it (root's, 0700) and
                    refuses one below a directory another user can write or a symlink
                    (default /mnt/nbdforge/<image name>, -2, -3... while in use)
  --no-mount        attach, partitions and LVM only: mount no filesystem
  --exec            mount without noexec (still nosuid,nodev)
  --loop            use losetup --partscan instead of qemu-nbd (raw images and block devices)
  --offset N        with --loop: start at byte N (or Ns sectors, NK, NM): one partition alone
  --format F        the image's format (raw, qcow2, vmdk, vhdx, vdi, vpc, qed). Without it the
                    file's name says it (.qcow2, .vmdk, ..., .raw), and its header must agree; a
                    block device, or a file whose name says nothing and whose header claims no
                    format, is raw; a header claiming a format the name does not is refused (a
                    raw disk a guest wrote can start with a qcow2 header). qemu never probes.
  --allow-external PATH  a file outside the image's directory (or a protocol name) that one of its
                    layers may reference (backing file, data file, VMDK extent); repeatable
  --shared-ro       let this read-only map share the image with other read-only maps/exports
${TARGET_USAGE}

Examples:
  nbdforge map vm.qcow2
  nbdforge map /var/lib/libvirt/images/vm.qcow2 --rw --json
  nbdforge map disk.img --format raw --ssh root@host
  nbdforge map vm.qcow2 --dry-run      # the checks run here, the steps it would take; exit 3 if it would refuse

Exit status: 0 mapped, 1 failed (everything done was undone), 2 usage, 3 refused (nothing done).`;

const mapCommand: Command = {
  summary: 'Map a disk image: nbd or loop device, partitions, LVM, mounts (journaled)',
  usage,
  async run(argv, ctx) {
    const { values, positionals } = parse(
      argv,
      { ...targetOptions, rw: { type: 'boolean', default: false }, snapshot: { type: 'boolean', default: false }, 'mount-root': { type: 'string' }, 'no-mount': { type: 'boolean', default: false }, exec: { type: 'boolean', default: false }, loop: { type: 'boolean', default: false }, offset: { type: 'string' }, format: { type: 'string' }, 'allow-external': { type: 'string', multiple: true }, 'shared-ro': { type: 'boolean', default: false } },
      true,
    );
    if (positionals.length !== 1) throw new UsageError('give exactly one IMAGE');
    if (values.rw && values.snapshot) throw new UsageError('--rw and --snapshot exclude each other');
    if (values['no-mount'] && (values['mount-root'] !== undefined || values.exec)) throw new UsageError('--no-mount mounts nothing: drop --mount-root and --exec');
    const t = targetFrom(values, ctx, 'map');
    const mode: MapMode = values.rw ? 'rw' : values.snapshot ? 'snapshot' : 'ro';
    const m = resolveMap({
      image: targetPath(positionals[0], t, 'IMAGE'),
      mode,
      via: values.loop ? 'loop' : 'nbd',
      offset: values.offset === undefined ? undefined : parseOffset(values.offset),
      format: values.format,
      mountRoot: values['mount-root'] === undefined ? undefined : targetPath(values['mount-root'], t, '--mount-root'),
      stateDir: t.stateDir,
      allowExternal: (values['allow-external'] ?? []).map((a) => (/^[^/]*:/.test(a) ? a : targetPath(a, t, '--allow-external'))),
      sharedRo: values['shared-ro'],
      exec: values.exec,
      noMount: values['no-mount'],
    });
    if (m.sharedRo && m.mode === 'rw') throw new UsageError('--shared-ro goes with read-only maps, not --rw');
    // a dry run shows the answer of the check itself, run on the target
    const seen = t.remote || values['dry-run'] ? undefined : await seenHere(m.image, m.format, m.allowExternal);
    const out = await runMap(t.runner, m, t.mode, generatorOf(ctx.version, 'map', argv), seen);
    return finish(ctx, t, out, values.json!, () => (out.state ? renderMounts(out.state) : `mapped (journal ${m.journal})\n`), () => ({ journal: m.journal, map: out.state }));
  },
};
export default mapCommand;
