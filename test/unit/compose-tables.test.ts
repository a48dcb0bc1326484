/**
 * The GPT and MBR writers against the real partitioners: for the same geometry and GUIDs, sgdisk
 * (gdisk 1.0.9) and sfdisk (util-linux 2.38) write a table into a sparse file made here, and our bytes
 * must equal theirs: protective MBR, both headers with their CRCs, both entry arrays, MBR entries
 * with their CHS fields. A missing sgdisk or sfdisk fails the test (scripts/setup-host.ts --with vm).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveTable } from '../../src/compose/table.ts';
import { computeLayout, LayoutError, SECTOR, MBR_MAX_SECTOR } from '../../src/compose/layout.ts';
import { crc32 } from '../../src/compose/crc32.ts';
import { guidToBytes, guidFromBytes, randomGuid } from '../../src/compose/guid.ts';
import { parsePartType, PartTypeError } from '../../src/compose/part-type.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-tables-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
const run = (cmd: string, args: string[], input?: string) => execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });

const DISK = '11111111-2222-3333-4444-555555555555';
const PART = 'AAAAAAAA-BBBB-4CCC-9DDD-EEEEEEEEEEEE';
const TIB = 2 ** 40;

function sparse(name: string, sectors: number): string {
  const f = path.join(dir, name);
  fs.rmSync(f, { force: true });
  fs.writeFileSync(f, '');
  fs.truncateSync(f, sectors * SECTOR);
  return f;
}
function readAt(f: string, off: number, len: number): Buffer {
  const fd = fs.openSync(f, 'r');
  try {
    const b = Buffer.alloc(len);
    fs.readSync(fd, b, 0, len, off);
    return b;
  } finally {
    fs.closeSync(fd);
  }
}
/** First differing byte, for a readable failure instead of two 17 KiB dumps. */
function sameBytes(ours: Buffer, theirs: Buffer, what: string): void {
  assert.is(ours.length, theirs.length, `${what}: length`);
  const i = ours.findIndex((b, k) => b !== theirs[k]);
  assert.is(i, -1, `${what}: first difference at byte ${i} (ours ${ours[i]?.toString(16)}, theirs ${theirs[i]?.toString(16)})`);
}

function gptCase(label: string, volumeBytes: number, alignBytes: number, type: string, sgType: string, name: string) {
  test(`GPT equals sgdisk's: ${label}`, () => {
    const t = resolveTable({ table: 'gpt', volumeBytes, alignBytes, type, name, diskGuid: DISK, partGuid: PART });
    const l = t.layout;
    const f = sparse(`gpt-${label.replace(/\W+/g, '_')}.img`, l.totalSectors);
    run('sgdisk', ['-a', String(l.alignSectors), '-n', `1:${l.partFirst}:${l.partLast}`, '-t', `1:${sgType}`, '-c', `1:${name}`, '-U', DISK, '-u', `1:${PART}`, f]);
    sameBytes(t.bytes.head, readAt(f, 0, t.bytes.head.length), 'head (protective MBR, header, entries)');
    assert.ok(readAt(f, t.bytes.head.length, l.headSectors * SECTOR - t.bytes.head.length).every((b) => b === 0), 'rest of the head is zero in sgdisk too');
    sameBytes(t.bytes.tail, readAt(f, (l.totalSectors - l.tailSectors) * SECTOR, l.tailSectors * SECTOR), 'tail (backup entries, header)');
    const v = run('sgdisk', ['-v', f]);
    assert.match(v, /No problems found/);
    const p = run('sgdisk', ['-i', '1', f]);
    assert.match(p, new RegExp(`First sector: ${l.partFirst} `));
    assert.match(p, new RegExp(`Last sector: ${l.partLast} `));
    assert.match(p, new RegExp(`Partition unique GUID: ${PART}`));
    fs.rmSync(f);
  });
}

gptCase('odd size, 1 MiB alignment, linux', 10001 * SECTOR + 300, 1024 * 1024, 'linux', '8300', 'vol');
gptCase('one-sector alignment, ntfs', 5000 * SECTOR, SECTOR, 'ntfs', '0700', 'Basic data partition');
gptCase('4 KiB alignment, lvm, unicode name', 64 * 1024 * 1024 + 4096 * 3, 4096, 'lvm', '8e00', 'données');
gptCase('exactly 2 TiB (sparse)', 2 * TIB, 1024 * 1024, 'ntfs', '0700', 'big');
gptCase('3 TiB (sparse)', 3 * TIB, 1024 * 1024, 'basic-data', '0700', 'bigger');

function mbrCase(label: string, volumeSectors: number, alignBytes: number, type: string, id: string) {
  test(`MBR equals sfdisk's: ${label}`, () => {
    const t = resolveTable({ table: 'mbr', volumeBytes: volumeSectors * SECTOR, alignBytes, type, diskId: 0x12345678 });
    const l = t.layout;
    const f = sparse(`mbr-${label.replace(/\W+/g, '_')}.img`, l.totalSectors);
    run('sfdisk', ['-q', f], `label: dos\nlabel-id: 0x12345678\nstart=${l.partFirst}, size=${l.volumeSectors}, type=${id}\n`);
    sameBytes(t.bytes.head, readAt(f, 0, SECTOR), 'MBR');
    assert.is(t.bytes.tail.length, 0);
    assert.match(run('sfdisk', ['--dump', f]), new RegExp(`start=\\s*${l.partFirst}, size=\\s*${l.volumeSectors}, type=${id}`));
    fs.rmSync(f);
  });
}
mbrCase('odd size, 1 MiB alignment', 10001, 1024 * 1024, 'linux', '83');
mbrCase('one-sector alignment, ntfs by id', 777, SECTOR, '0x07', '7');
mbrCase('the largest disk MBR can describe (ends at sector 2^32-1, sparse)', MBR_MAX_SECTOR + 1 - 2048, 1024 * 1024, 'ntfs', '7');

test('MBR refused from 2 TiB on, with the reason and the way out; GPT fine', () => {
  for (const size of [2 * TIB, 3 * TIB, (MBR_MAX_SECTOR + 2 - 2048) * SECTOR]) {
    assert.throws(() => computeLayout('mbr', size), (e: unknown) => e instanceof LayoutError && /2 TiB MBR limit/.test((e as Error).message) && /--table gpt/.test((e as Error).message));
    assert.ok(computeLayout('gpt', size).totalSectors > size / SECTOR);
  }
});

test('layout: the head is the alignment, the partition is the volume, refusals', () => {
  const l = computeLayout('gpt', 10 * 1024 * 1024 + 700);
  assert.equal([l.headSectors, l.volumeSectors, l.volumeTailBytes, l.tailSectors, l.partFirst, l.partLast, l.totalSectors], [2048, 20481, 188, 33, 2048, 22528, 22562]);
  assert.is(computeLayout('gpt', 1 << 20, 512).headSectors, 34, 'GPT needs 34 sectors before the first usable one');
  assert.is(computeLayout('gpt', 1 << 20, 16 * 512).headSectors, 48);
  assert.is(computeLayout('mbr', 1 << 20, 512).headSectors, 1);
  assert.throws(() => computeLayout('gpt', 1000 * 1024), /smaller than the alignment/);
  assert.throws(() => computeLayout('gpt', 1 << 20, 100), /whole number of 512-byte sectors/);
});

test('CRC32 and GUID encoding', () => {
  assert.is(crc32(Buffer.from('123456789')), 0xcbf43926, 'the CRC-32/ISO-HDLC check value');
  assert.is(crc32(Buffer.alloc(0)), 0);
  assert.is(guidToBytes('C12A7328-F81F-11D2-BA4B-00A0C93EC93B').toString('hex'), '28732ac11ff8d211ba4b00a0c93ec93b', 'the ESP type as it sits on disk');
  const g = randomGuid();
  assert.is(guidFromBytes(guidToBytes(g)), g);
  assert.match(g, /^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
});

test('partition types by name, GUID or MBR id; the other table refused where no mapping exists', () => {
  assert.equal(parsePartType('ntfs'), { name: 'ntfs', gpt: 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7', mbr: 7 });
  assert.is(parsePartType('83').gpt, '0FC63DAF-8483-4772-8E79-3D69D8477DE4');
  assert.is(parsePartType('c12a7328-f81f-11d2-ba4b-00a0c93ec93b').mbr, undefined);
  assert.throws(() => parsePartType('0xee'), (e: unknown) => e instanceof PartTypeError);
  assert.throws(() => parsePartType('ext9'), /unknown partition type/);
  assert.throws(() => resolveTable({ table: 'mbr', volumeBytes: 1 << 24, type: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B' }), /no MBR id/);
  assert.throws(() => resolveTable({ table: 'gpt', volumeBytes: 1 << 24, type: '0x0c' }), /no GPT type GUID/);
  assert.throws(() => resolveTable({ table: 'mbr', volumeBytes: 1 << 24, partGuid: PART }), /GPT fields/);
  const r = resolveTable({ table: 'mbr', volumeBytes: 1 << 24 });
  assert.ok(r.diskId! > 0, 'a random non-zero disk signature');
});

test.run();
