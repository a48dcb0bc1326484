import fs from 'node:fs/promises';
import path from 'node:path';
import type { CommandContext } from './context.ts';
import { localVolumeSize } from '../compose/volume-size.ts';
import { detectTable } from '../compose/detect.ts';
import { resolveTable } from '../compose/table.ts';
import { writeComposite } from '../compose/to-file.ts';
import { LayoutError } from '../compose/layout.ts';
import { describeComposite, renderComposite } from '../compose/report.ts';
import type { ComposeRequest } from '../compose/request.ts';

type Base = Omit<ComposeRequest, 'volume' | 'name' | 'stateDir'>;

/**
 * `compose VOLUME --to-file OUT` on this machine: the same table as a device-mapper composite, and
 * the volume's bytes, in one new sparse file. Refusals (exit 3) happen before OUT is created.
 */
export async function composeToFile(ctx: CommandContext, volumeArg: string, outArg: string, base: Base, json: boolean): Promise<number> {
  const volume = path.resolve(volumeArg);
  const out = path.resolve(outArg);
  const refuse = (message: string) => {
    if (json) ctx.stdout.write(JSON.stringify({ result: { outcome: 'refused', message }, exitCode: 3 }, null, 2) + '\n');
    else ctx.stderr.write(`refused: ${message}\n`);
    return 3;
  };
  let size;
  try {
    size = await localVolumeSize(volume);
  } catch (err) {
    return refuse((err as NodeJS.ErrnoException).code === 'ENOENT' ? `no such volume: ${volume}` : (err as Error).message);
  }
  if (await fs.stat(out).then(() => true, () => false)) return refuse(`${out} exists: --to-file writes a new file and never overwrites one`);
  if (!base.force) {
    const fh = await fs.open(volume, 'r');
    const first = Buffer.alloc(8192);
    const { bytesRead } = await fh.read(first, 0, first.length, 0).finally(() => fh.close());
    const found = detectTable(first.subarray(0, bytesRead));
    if (found) return refuse(`${volume} already has ${found.what}, so it is already a disk: composing would nest one disk inside another (--force does it anyway)`);
  }
  let t;
  try {
    t = resolveTable({ table: base.table, volumeBytes: size.bytes, alignBytes: base.alignBytes, type: base.type, name: base.partName, diskGuid: base.diskGuid, partGuid: base.partGuid, diskId: base.diskId });
  } catch (err) {
    if (err instanceof LayoutError) return refuse(err.message);
    throw err;
  }
  const r = await writeComposite(volume, out, t);
  const report = { ...describeComposite({ ...base, volume, name: path.basename(out), stateDir: '/' }, t, undefined), dev: out, partDev: `${out} at byte ${t.layout.headSectors * 512}` };
  if (json) {
    ctx.stdout.write(JSON.stringify({ result: { outcome: 'changed', ms: r.ms }, exitCode: 0, file: { ...r, composite: report } }, null, 2) + '\n');
    return 0;
  }
  const dropped = t.layout.volumeTailBytes ? ` (the volume's last ${t.layout.volumeTailBytes} bytes, less than a sector, are left out)` : '';
  ctx.stdout.write(renderComposite(report).replace(/take apart: .*\n$/, `wrote ${r.bytes} bytes (${r.dataBytes} of them data, the rest holes) in ${r.ms} ms${dropped}\n`));
  return 0;
}
