import { type Command, parse, UsageError } from './context.ts';
import { targetOptions, targetFrom, targetPath, finish, TARGET_USAGE, generatorOf } from './host-cli.ts';
import { checkRequest, type ComposeRequest } from '../compose/request.ts';
import { runCompose } from '../compose/run.ts';
import { composeToFile } from './compose-to-file.ts';
import { renderComposite } from '../compose/report.ts';
import { parseSize, type TableKind } from '../compose/layout.ts';
import { TYPE_NAMES } from '../compose/part-type.ts';

const usage = `Usage: nbdforge compose VOLUME --name NAME [--table gpt|mbr] [--type T] [--read-only] [--json]
       nbdforge compose VOLUME --to-file OUT [--table gpt|mbr] [--type T]

Presents a volume that holds a filesystem directly (no partition table: an LV formatted whole with
NTFS or ext4, say) as a whole partitioned disk, without writing a byte of it: device-mapper puts a
small head (MBR, or protective MBR + GPT header and entries) in front of it and, for GPT, the backup
entries and header after it, from two read-only loop devices. The disk is /dev/mapper/NAME, its
partition 1 (exactly the volume) /dev/mapper/NAMEp1; give the disk to a VM or to \`nbdforge export\`.
Every action is journaled: \`nbdforge decompose NAME\` (or --all) takes it apart exactly, also after
a kill -9 or a reboot.

Table:
  --table gpt|mbr   default gpt; mbr only while the disk ends below 2 TiB
  --type T          ${TYPE_NAMES.join(', ')} (default linux), a GPT type GUID, or an MBR id (0x07)
  --part-name S     GPT partition name (default empty)
  --align N         head size / partition start: 1M (default), 4K, 2048s, 512 (one sector at least)
  --disk-guid G     GPT disk GUID (default random)        --part-guid G  GPT partition GUID (default random)
  --disk-id 0xN     MBR disk signature (default random, never 0)
Composite:
  --name NAME       the device-mapper name (A-Z a-z 0-9 . _ + -)
  --read-only       the disk and its partition are read-only
  --force           compose even when VOLUME already has a partition table
  --size BYTES      the volume's size on the target (needed with --emit-script; the script checks it)
  --to-file OUT     write the composite as a new sparse file instead (no device-mapper, this machine;
                    VOLUME may be a regular file)
${TARGET_USAGE}

Examples:
  nbdforge compose /dev/vg0/data --name data-disk
  nbdforge compose volume.raw --to-file disk.img --table gpt
  nbdforge compose /dev/vg0/data --name data-disk --size 10737418240 --emit-script compose.sh

Exit status: 0 composed, 1 failed (everything done was undone), 2 usage, 3 refused (nothing done).`;

const composeCommand: Command = {
  summary: 'Present an unpartitioned volume as a partitioned disk (device-mapper, journaled) or as a sparse file',
  usage,
  async run(argv, ctx) {
    const { values, positionals } = parse(
      argv,
      {
        ...targetOptions,
        name: { type: 'string' },
        table: { type: 'string', default: 'gpt' },
        type: { type: 'string' },
        'part-name': { type: 'string' },
        align: { type: 'string' },
        'disk-guid': { type: 'string' },
        'part-guid': { type: 'string' },
        'disk-id': { type: 'string' },
        'read-only': { type: 'boolean', default: false },
        force: { type: 'boolean', default: false },
        size: { type: 'string' },
        'to-file': { type: 'string' },
      },
      true,
    );
    if (positionals.length !== 1) throw new UsageError('give exactly one VOLUME');
    if (values.table !== 'gpt' && values.table !== 'mbr') throw new UsageError(`--table is gpt or mbr: ${values.table}`);
    const diskId = values['disk-id'] === undefined ? undefined : Number(values['disk-id']);
    if (diskId !== undefined && (!Number.isInteger(diskId) || diskId <= 0 || diskId > 0xffffffff)) throw new UsageError(`--disk-id must be a non-zero 32-bit number (0x1234abcd): ${values['disk-id']}`);
    const base = {
      table: values.table as TableKind,
      type: values.type,
      partName: values['part-name'],
      alignBytes: values.align === undefined ? undefined : parseSize(values.align, '--align'),
      diskGuid: values['disk-guid'],
      partGuid: values['part-guid'],
      diskId,
      readOnly: values['read-only']!,
      force: values.force!,
    };
    if (values['to-file'] !== undefined) {
      if (values.ssh || values['emit-script'] || values['dry-run'] || values.name || values['read-only'] || values.size)
        throw new UsageError('--to-file writes a file on this machine: it goes without --ssh, --emit-script, --dry-run, --name, --read-only and --size');
      return await composeToFile(ctx, positionals[0], values['to-file'], base, values.json!);
    }
    if (values.name === undefined) throw new UsageError('--name NAME is required (the device-mapper name), or --to-file OUT');
    const t = targetFrom(values, ctx, 'compose');
    if (t.mode === 'emit' && values.size === undefined) throw new UsageError('--emit-script needs --size BYTES: the volume size on the target (blockdev --getsize64 VOLUME); the script refuses to run if it differs');
    const size = values.size === undefined ? undefined : parseSize(values.size, '--size');
    const req: ComposeRequest = checkRequest({ ...base, volume: targetPath(positionals[0], t, 'VOLUME'), name: values.name, stateDir: t.stateDir });
    const out = await runCompose(t.runner, req, t.mode, size, generatorOf(ctx.version, 'compose', argv));
    return await finish(
      ctx,
      t,
      { plan: out.plan, result: out.result, script: out.script },
      values.json!,
      () => (out.report ? renderComposite(out.report) : 'composed\n'),
      () => ({ composite: out.report }),
    );
  },
};
export default composeCommand;
