import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkCrcs, parseElf, parseModuleSymvers, readVersions, SymversError } from '../../src/verify/index.ts';
import { buildModule } from './fixtures-elf.ts';

const imports = [
  { name: 'module_layout', crc: 0xdeadbeef },
  { name: 'blk_mq_alloc_tag_set', crc: 0x0a1b2c3d },
  { name: 'sock_sendmsg', crc: 0x80000001 },
  { name: 'a_symbol_name_that_is_exactly_fifty_five_characters_xyz', crc: 0x00000007 },
];
const mod = buildModule({ vermagic: 'v', versions: imports });

const symvers = [
  '0xdeadbeef\tmodule_layout\tvmlinux\tEXPORT_SYMBOL\t',
  '0x0a1b2c3d\tblk_mq_alloc_tag_set\tvmlinux\tEXPORT_SYMBOL_GPL\t',
  '',
  '0x80000001\tsock_sendmsg\tvmlinux\tEXPORT_SYMBOL',
  '0x00000007\ta_symbol_name_that_is_exactly_fifty_five_characters_xyz\tdrivers/foo/bar\tEXPORT_SYMBOL_GPL\tFOO_NS',
  '0x11111111\tunused_symbol\tvmlinux\tEXPORT_SYMBOL\t',
  '',
].join('\n');

test('readVersions: names and CRCs as written in the C fixture', () => {
  assert.equal(readVersions(parseElf(mod.bytes)), imports);
  assert.equal(readVersions(parseElf(buildModule({ vermagic: 'v' }, 'nov').bytes)), []);
});

test('parseModuleSymvers: 4- and 5-column lines, blank lines, CRLF', () => {
  const m = parseModuleSymvers(symvers);
  assert.is(m.size, 5);
  assert.is(m.get('module_layout'), 0xdeadbeef);
  assert.is(m.get('sock_sendmsg'), 0x80000001); // 4 columns (CentOS 7 / 3.10)
  assert.is(m.get('a_symbol_name_that_is_exactly_fifty_five_characters_xyz'), 7); // 5 columns with namespace
  assert.is(m.get('unused_symbol'), 0x11111111);
  const crlf = parseModuleSymvers('0x0000abcd\tfoo\tvmlinux\tEXPORT_SYMBOL\r\n');
  assert.is(crlf.get('foo'), 0xabcd);
  assert.throws(() => parseModuleSymvers('0x1\tok\tvmlinux\tEXPORT_SYMBOL\nnot a symvers line\n'), (e: Error) => e instanceof SymversError && /Module\.symvers:2:/.test(e.message));
});

test('checkCrcs: all match', () => {
  const r = checkCrcs(mod.bytes, symvers);
  assert.is(r.name, 'crcs');
  assert.is(r.ok, true);
  assert.is(r.detail, '4 imported symbols, all CRCs match Module.symvers');
  assert.is(checkCrcs(mod.bytes, parseModuleSymvers(symvers)).ok, true);
});

test('checkCrcs: one wrong CRC is named with both values', () => {
  const r = checkCrcs(mod.bytes, symvers.replace('0x80000001', '0x80000002'));
  assert.is(r.ok, false);
  assert.ok(r.detail.includes('sock_sendmsg: module 0x80000001, Module.symvers 0x80000002'), r.detail);
  assert.ok(r.detail.startsWith('1 of 4 imported symbols'), r.detail);
});

test('checkCrcs: one missing symbol', () => {
  const r = checkCrcs(mod.bytes, symvers.split('\n').filter((l) => !l.includes('blk_mq_alloc_tag_set')).join('\n'));
  assert.is(r.ok, false);
  assert.ok(r.detail.includes('blk_mq_alloc_tag_set: missing from Module.symvers'), r.detail);
});

test('checkCrcs: lists at most 10 offenders plus the count', () => {
  const many = Array.from({ length: 13 }, (_, i) => ({ name: `sym_${i}`, crc: i + 1 }));
  const r = checkCrcs(buildModule({ vermagic: 'v', versions: many }, 'many').bytes, new Map());
  assert.is(r.ok, false);
  assert.ok(r.detail.startsWith('13 of 13 imported symbols'), r.detail);
  assert.ok(r.detail.includes('sym_9: missing') && !r.detail.includes('sym_10:'), r.detail);
  assert.ok(r.detail.endsWith('and 3 more'), r.detail);
});

test('checkCrcs: no __versions fails (built without modversions), empty __versions fails', () => {
  const r = checkCrcs(buildModule({ vermagic: 'v' }, 'nomv').bytes, symvers);
  assert.is(r.ok, false);
  assert.match(r.detail, /built without modversions/);
  const empty = checkCrcs(buildModule({ vermagic: 'v', versions: [] }, 'emptyv').bytes, symvers);
  assert.is(empty.ok, false);
});

test.run();
