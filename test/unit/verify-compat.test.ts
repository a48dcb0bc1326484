import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compatRows, renderCompat } from '../../src/verify/compat.ts';
import { readVersions, parseModuleSymvers } from '../../src/verify/versions.ts';
import { parseElf } from '../../src/verify/index.ts';
import { buildModule } from './fixtures-elf.ts';
import { cli } from './publish-fixtures.ts';

const A = '3.10.0-1160.el7.x86_64';
const B = '3.10.0-1160.119.1.el7.x86_64';
const C = '3.10.0-1160.118.1.el7.x86_64';
const D = '3.10.0-1160.6.1.el7.x86_64';
const CRCS = [
  { name: 'module_layout', crc: 0x2a1b3c4d },
  { name: 'blk_mq_alloc_tag_set', crc: 0x1f2e3d4c },
];
const symvers = (over: Record<string, number | undefined> = {}) =>
  parseModuleSymvers(
    CRCS.filter((c) => !(c.name in over) || over[c.name] !== undefined)
      .map((c) => `0x${(over[c.name] ?? c.crc).toString(16).padStart(8, '0')}\t${c.name}\tvmlinux\tEXPORT_SYMBOL\n`)
      .join(''),
  );

test('compat: a module loads where every imported CRC matches; the first breaking symbol is named; kernels without symvers are unknown', () => {
  const imports = readVersions(parseElf(buildModule({ vermagic: `${A} SMP mod_unload modversions `, versions: CRCS }).bytes, 'nbd.ko'));
  const sv = new Map([[A, symvers()], [B, symvers()], [C, symvers({ blk_mq_alloc_tag_set: 0x99 })], [D, symvers({ blk_mq_alloc_tag_set: undefined })]]);
  const rows = compatRows([{ kernelRelease: A, imports }], [A, B, C, D, '3.10.0-1160.2.1.el7.x86_64'], (k) => sv.get(k));
  assert.equal(rows, [{
    builtFor: A, imports: 2, loads: [B],
    breaks: [{ kernel: C, symbol: 'blk_mq_alloc_tag_set', module: '0x1f2e3d4c', kernelCrc: '0x00000099' }, { kernel: D, symbol: 'blk_mq_alloc_tag_set', module: '0x1f2e3d4c' }],
    unknown: ['3.10.0-1160.2.1.el7.x86_64'],
  }]);
  const text = renderCompat(rows);
  assert.match(text, /loads on: 3\.10\.0-1160\.119\.1\.el7\.x86_64\n/);
  assert.match(text, /not on 3\.10\.0-1160\.118\.1\.el7\.x86_64: blk_mq_alloc_tag_set has CRC 0x00000099 there, the module wants 0x1f2e3d4c/);
  assert.match(text, /not on 3\.10\.0-1160\.6\.1\.el7\.x86_64: blk_mq_alloc_tag_set is not exported there/);
  // no __versions: no evidence, never "loads"
  const none = compatRows([{ kernelRelease: A, imports: [] }], [B], (k) => sv.get(k));
  assert.equal(none[0].loads, []);
});

test('compat: refused for Debian families, whose ABIs change CRCs', async () => {
  const r = await cli(['compat', '--family', 'debian12']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /compat is for el families/);
});

test.run();
