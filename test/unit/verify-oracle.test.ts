import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compareSections, DEFAULT_ORACLE_SECTIONS, matchesPattern, parseElf, sectionHashes } from '../../src/verify/index.ts';
import { buildModule } from './fixtures-elf.ts';
import { createHash } from 'node:crypto';

const spec = { vermagic: '6.1.0-56-amd64 SMP preempt mod_unload modversions ', versions: [{ name: 'printk', crc: 0x1234 }] };
const a = buildModule(spec, 'a');
const b = buildModule(spec, 'b');

test('prefix globs: .rodata* and .init* but never .rela.*', () => {
  assert.ok(matchesPattern('.rodata', '.rodata*'));
  assert.ok(matchesPattern('.rodata.str1.8', '.rodata*'));
  assert.ok(matchesPattern('.init.text', '.init*'));
  assert.not.ok(matchesPattern('.rela.init.text', '.init*'));
  assert.not.ok(matchesPattern('.rela.rodata', '.rodata*'));
  assert.not.ok(matchesPattern('.text.unlikely', '.text'));
  assert.ok(matchesPattern('.text', '.text'));
});

test('same C compiled twice: identical, every matching section listed', () => {
  const r = compareSections(a.bytes, b.bytes);
  assert.is(r.name, 'oracle');
  assert.is(r.ok, true, r.detail);
  const names = r.sections.map((s) => s.name);
  assert.equal([...names].sort(), ['.data', '.init.text', '.rodata', '.rodata.str1.1', '.text', '__versions']);
  assert.ok(r.sections.every((s) => s.equal));
  const bytes = r.sections.reduce((n, s) => n + s.size, 0);
  assert.match(r.detail, new RegExp(`^6 sections \\(${bytes} bytes\\) identical`));
  const versions = r.sections.find((s) => s.name === '__versions')!;
  assert.is(versions.size, 64);
  assert.is(versions.sha256, createHash('sha256').update(parseElf(a.bytes).section('__versions')!.data).digest('hex'));
});

test('a changed string constant: .rodata.str1.1 differs at the right offset', () => {
  const c = buildModule({ ...spec, greeting: 'hello nbe' }, 'c');
  const str = parseElf(a.bytes).section('.rodata.str1.1')!.data;
  const at = Buffer.from(str).indexOf('hello nbd') + 8;
  assert.ok(at >= 8);
  const r = compareSections(c.bytes, a.bytes);
  assert.is(r.ok, false);
  assert.ok(r.detail.startsWith('1 of 6 sections differ: .rodata.str1.1 differs'), r.detail);
  assert.ok(r.detail.includes(`built ${str.length} bytes, reference ${str.length} bytes`), r.detail);
  assert.ok(r.detail.includes(`offset 0x${at.toString(16)}: built 0x65, reference 0x64`), r.detail);
  assert.is(r.sections.find((s) => s.name === '.rodata.str1.1')!.equal, false);
  assert.is(r.sections.find((s) => s.name === '.text')!.equal, true);
});

test('a section present in only one file is a mismatch', () => {
  const d = buildModule({ ...spec, withExit: true }, 'd');
  const r = compareSections(d.bytes, a.bytes);
  assert.is(r.ok, false);
  assert.match(r.detail, /\.exit\.text is only in the built module \(\d+ bytes\), missing from the reference module/);
  const exit = r.sections.find((s) => s.name === '.exit.text')!;
  assert.equal([exit.equal, exit.missingFrom], [false, 'reference']);
  const back = compareSections(a.bytes, d.bytes);
  assert.is(back.ok, false);
  assert.match(back.detail, /\.exit\.text is only in the reference module/);
});

test('zero matching sections is never success', () => {
  const r = compareSections(a.bytes, b.bytes, ['.no-such-section*']);
  assert.is(r.ok, false);
  assert.match(r.detail, /nothing was compared/);
});

test('unreadable reference is a failed check naming it', () => {
  const r = compareSections(a.bytes, new TextEncoder().encode('<html>404</html>'));
  assert.is(r.ok, false);
  assert.match(r.detail, /^reference module: not an ELF file/);
});

test('sectionHashes: default patterns, sizes and digests', () => {
  const h = sectionHashes(a.bytes);
  assert.equal(h, sectionHashes(b.bytes));
  assert.not.ok(h.some((s) => s.name.startsWith('.rela')));
  const data = h.find((s) => s.name === '.data')!;
  assert.equal(data, { name: '.data', size: 4, sha256: createHash('sha256').update(Uint8Array.of(16, 0, 0, 0)).digest('hex') });
  assert.equal(sectionHashes(parseElf(a.bytes), ['.data']).map((s) => s.name), ['.data']);
  assert.ok(DEFAULT_ORACLE_SECTIONS.includes('.rodata*'));
});

test.run();
