import type { JournalRecord } from '../host/journal.ts';
import type { ComposeRequest } from './request.ts';
import { composeNames } from './request.ts';
import type { ResolvedTable } from './table.ts';
import { SECTOR } from './layout.ts';

export interface CompositeReport {
  name: string;
  volume: string;
  table: 'gpt' | 'mbr';
  dev: string;
  partDev: string;
  bytes: number;
  sectors: { head: number; volume: number; tail: number; total: number };
  type: string;
  diskGuid?: string;
  partGuid?: string;
  diskId?: string;
  readOnly: boolean;
  /** The device-mapper table as created (after a run). */
  dmTable?: string[];
  loops?: string[];
}

export function describeComposite(req: ComposeRequest, t: ResolvedTable, after: { records: JournalRecord[]; table: string } | undefined): CompositeReport {
  const n = composeNames(req.stateDir, req.name);
  const l = t.layout;
  return {
    name: req.name,
    volume: req.volume,
    table: l.table,
    dev: n.dev,
    partDev: n.partDev,
    bytes: l.totalSectors * SECTOR,
    sectors: { head: l.headSectors, volume: l.volumeSectors, tail: l.tailSectors, total: l.totalSectors },
    type: t.type.name,
    diskGuid: t.diskGuid,
    partGuid: t.partGuid,
    diskId: t.diskId === undefined ? undefined : `0x${t.diskId.toString(16).padStart(8, '0')}`,
    readOnly: req.readOnly,
    dmTable: after ? after.table.split('\n').filter(Boolean) : undefined,
    loops: after ? after.records.filter((r) => r.kind === 'loopdev').map((r) => String(r.dev)) : undefined,
  };
}

export function humanBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[i]}`;
}

export function renderComposite(r: CompositeReport): string {
  const ids = r.table === 'gpt' ? `disk GUID ${r.diskGuid}, partition GUID ${r.partGuid}` : `disk id ${r.diskId}`;
  const lines = [
    `${r.dev}: ${r.table.toUpperCase()} disk, ${humanBytes(r.bytes)} (${r.sectors.total} sectors)${r.readOnly ? ', read-only' : ''}`,
    `partition 1: ${r.partDev} = ${r.volume} (sectors ${r.sectors.head}-${r.sectors.head + r.sectors.volume - 1}, type ${r.type})`,
    ids,
  ];
  if (r.dmTable?.length) lines.push('device-mapper table (512-byte sectors):', ...r.dmTable.map((l) => `  ${l}`));
  lines.push(`take apart: nbdforge decompose ${r.name}`);
  return lines.join('\n') + '\n';
}
