import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ElfError, checkVermagic, parseElf, readModinfo, vermagicOf } from '../../src/verify/index.ts';
import { buildModule, compileC, DEBIAN_VERMAGIC } from './fixtures-elf.ts';

const mod = buildModule({ vermagic: DEBIAN_VERMAGIC, versions: [{ name: 'printk', crc: 1 }], extraModinfo: ['alias=nbd-extra'] });

test('readModinfo: keys, repeated keys in order, empty values', () => {
  const info = readModinfo(parseElf(mod.bytes));
  assert.equal(info.get('vermagic'), [DEBIAN_VERMAGIC]);
  assert.equal(info.get('license'), ['GPL']);
  assert.equal(info.get('depends'), ['']);
  // gcc may lay out separate variables in any order: compare as a set here.
  assert.equal([...info.get('alias')!].sort(), ['block-major-43-*', 'devname:nbd-control', 'nbd-extra']);
  assert.equal(info.get('parm'), ['nbds_max:number of network block devices to initialize (default: 16) (int)']);
  assert.is(info.size, 5);
});

test('readModinfo: repeated keys keep file order, padding NULs are skipped', () => {
  const one = compileC(
    'static const char m[] __attribute__((section(".modinfo"), used)) = "alias=z-first\\0parm=p:x\\0alias=a-second\\0\\0\\0noequals\\0firmware=nbd.bin";\n',
    'order',
  );
  const info = readModinfo(parseElf(one.bytes));
  assert.equal(info.get('alias'), ['z-first', 'a-second']);
  assert.equal(info.get('noequals'), ['']);
  assert.equal([...info.keys()], ['alias', 'parm', 'noequals', 'firmware']);
});

test('vermagicOf keeps the trailing space', () => {
  assert.is(vermagicOf(parseElf(mod.bytes)), '6.1.0-56-amd64 SMP preempt mod_unload modversions ');
});

test('vermagicOf: clear errors when absent', () => {
  const noVermagic = buildModule({ versions: [] }, 'novm');
  assert.throws(() => vermagicOf(parseElf(noVermagic.bytes, noVermagic.path)), (e: Error) => e instanceof ElfError && e.message === `${noVermagic.path}: .modinfo has no vermagic= entry`);
  const plain = compileC('int f(void) { return 1; }\n', 'plain');
  assert.throws(() => vermagicOf(parseElf(plain.bytes, 'plain.o')), /^plain\.o: no \.modinfo section/);
});

test('checkVermagic: match, trimmed ends only, mismatch names both values', () => {
  const ok = checkVermagic(mod.bytes, '6.1.0-56-amd64 SMP preempt mod_unload modversions');
  assert.is(ok.name, 'vermagic');
  assert.is(ok.ok, true);
  assert.is(checkVermagic(mod.bytes, DEBIAN_VERMAGIC).ok, true);
  // inner whitespace matters
  assert.is(checkVermagic(mod.bytes, '6.1.0-56-amd64 SMP preempt  mod_unload modversions').ok, false);
  const bad = checkVermagic(mod.bytes, '6.1.0-55-amd64 SMP preempt mod_unload modversions ');
  assert.is(bad.ok, false);
  assert.ok(bad.detail.includes('"6.1.0-56-amd64 SMP preempt mod_unload modversions "'), bad.detail);
  assert.ok(bad.detail.includes('"6.1.0-55-amd64 SMP preempt mod_unload modversions "'), bad.detail);
});

test('checkVermagic: unreadable or vermagic-less module is a failed check', () => {
  const r = checkVermagic(new TextEncoder().encode('hello'), DEBIAN_VERMAGIC);
  assert.is(r.ok, false);
  assert.match(r.detail, /not an ELF file/);
  const noVermagic = buildModule({}, 'novm2');
  const r2 = checkVermagic(noVermagic.bytes, DEBIAN_VERMAGIC);
  assert.is(r2.ok, false);
  assert.match(r2.detail, /no vermagic/);
});

test.run();
