import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { ElfError, parseElf, SHT_NOBITS } from '../../src/verify/index.ts';
import { buildModule, writeTemp } from './fixtures-elf.ts';

const mod = buildModule({ vermagic: 'x', versions: [{ name: 'printk', crc: 0x12345678 }] });

/** Expect parseElf to throw an ElfError whose message matches every pattern. */
function throwsElf(buf: Uint8Array, label: string | undefined, ...patterns: RegExp[]): string {
  try {
    parseElf(buf, label);
  } catch (e) {
    assert.instance(e, ElfError);
    const msg = (e as Error).message;
    assert.is((e as Error).name, 'ElfError');
    for (const p of patterns) assert.match(msg, p);
    return msg;
  }
  assert.unreachable('parseElf should have thrown');
  return '';
}

const patched = (edit: (dv: DataView, copy: Uint8Array) => void): Uint8Array => {
  const copy = mod.bytes.slice();
  edit(new DataView(copy.buffer), copy);
  return copy;
};

test('parses gcc output: section names, types, sizes, data views', () => {
  const elf = parseElf(mod.bytes, mod.path);
  assert.is(elf.type, 1); // ET_REL
  assert.is(elf.machine, 62); // EM_X86_64
  assert.is(elf.label, mod.path);
  const names = elf.sections.map((s) => s.name);
  for (const n of ['.text', '.data', '.rodata', '.rodata.str1.1', '.init.text', '.rela.init.text', '__versions', '.modinfo', '.shstrtab'])
    assert.ok(names.includes(n), `missing ${n} in ${names.join(' ')}`);
  assert.is(elf.sections[0].name, '');
  const data = elf.section('.data')!;
  assert.is(data.size, 4);
  assert.equal([...data.data], [16, 0, 0, 0]); // int nbds_max = 16
  const rodata = elf.section('.rodata')!;
  assert.is(rodata.size, 32);
  assert.is(new DataView(rodata.data.buffer, rodata.data.byteOffset).getInt32(28, true), 34);
  const bss = elf.section('.bss')!;
  assert.is(bss.type, SHT_NOBITS);
  assert.is(bss.data.length, 0);
  assert.is(elf.section('.nope'), undefined);
});

test('non-ELF input (a text file) throws ElfError naming the label', () => {
  const p = writeTemp('notes.txt', 'just some text, not an object file\n');
  const msg = throwsElf(new Uint8Array(readFileSync(p)), p, /not an ELF file/, /bad magic/);
  assert.ok(msg.startsWith(`${p}: `), msg);
  throwsElf(new Uint8Array(0), 'empty.ko', /^empty\.ko: not an ELF file/);
});

test('truncated file: section header table cut off', () => {
  const cut = mod.bytes.subarray(0, mod.bytes.length - 100);
  throwsElf(cut, mod.path, new RegExp(`^${mod.path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: truncated file`), /section header table/, new RegExp(`${cut.length}-byte file`));
  throwsElf(mod.bytes.subarray(0, 40), 'short.ko', /^short\.ko: truncated ELF file: 40 bytes/);
});

test("truncated file: a section's bytes beyond the end", () => {
  const elf = parseElf(mod.bytes);
  const idx = elf.sections.findIndex((s) => s.name === '.rodata');
  const shoff = Number(new DataView(mod.bytes.buffer, mod.bytes.byteOffset).getBigUint64(40, true));
  const bad = patched((dv) => dv.setBigUint64(shoff + idx * 64 + 32, BigInt(mod.bytes.length), true));
  throwsElf(bad, 'x.ko', new RegExp(`^x\\.ko: truncated file: section ${idx} \\(\\.rodata\\)`), /beyond the end/);
});

test('ELF32 and big-endian are refused as unsupported', () => {
  throwsElf(patched((_dv, c) => (c[4] = 1)), 'a.ko', /^a\.ko: unsupported ELF32/);
  throwsElf(patched((_dv, c) => (c[5] = 2)), 'b.ko', /^b\.ko: unsupported big-endian/);
  throwsElf(patched((dv) => dv.setUint16(16, 4, true)), 'core', /unsupported ELF type 4 \(core\)/);
});

test('bad e_shstrndx', () => {
  throwsElf(patched((dv) => dv.setUint16(62, 999, true)), 'c.ko', /^c\.ko: bad e_shstrndx 999: the file has \d+ sections/);
  throwsElf(patched((dv) => dv.setUint16(62, 0, true)), undefined, /^bad e_shstrndx 0/);
});

test.run();
