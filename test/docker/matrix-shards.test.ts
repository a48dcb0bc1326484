/**
 * Issue 12.5, for real: the shard/merge sequence the generated GitHub workflow runs (the same argv,
 * from ciCommands), with the real engine and real Debian packages. Two shard stores merged equal
 * one store built in one run, key for key; afterwards nothing is missing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ciCommands } from '../../src/ci/github-workflow.ts';
import { DirStore } from '../../src/artifacts/dir-store.ts';

const cli = path.resolve('bin/nbdforge.js');
const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-shards-'));
const run = (argv: string[]) => {
  assert.is(argv[0], 'nbdforge');
  const r = spawnSync(cli, argv.slice(1), { encoding: 'utf8' });
  assert.is(r.status, 0, `${argv.join(' ')}\n${r.stderr}`);
  return r.stdout;
};
const keys = async (root: string) => (await new DirStore(root).list()).map((e) => `${e.kernelRelease} ${e.key}`);

test.after(() => fs.rm(tmp, { recursive: true, force: true }));

test('list -> build shards -> merge equals one run, key for key; a second list finds nothing missing', async () => {
  const c = ciCommands({ family: 'debian12', shards: 2, latest: 2, publish: 'dir:site' });
  const one = path.join(tmp, 'one-run');
  run(['nbdforge', 'matrix', '--family', 'debian12', '--latest', '2', '--store', one]);

  const published = path.join(tmp, 'published');
  const listed = JSON.parse(run(c.list(published)));
  assert.is(listed.count, 2);
  assert.is(listed.shards.length, 2);
  const shardStores = listed.shards.map((kernels: string, i: number) => {
    const store = path.join(tmp, `shard-${i}`);
    run(c.shard(kernels, store));
    return store;
  });
  const merged = JSON.parse(run([...c.merge(shardStores, published), '--json']));
  assert.equal(merged.counts, { added: 2, same: 0, older: 0, refused: 0 });
  assert.equal(await keys(published), await keys(one));
  assert.is(JSON.parse(run(c.list(published))).count, 0);
  // matrix --missing over the merged store builds nothing
  const again = spawnSync(cli, ['matrix', '--family', 'debian12', '--latest', '2', '--missing', '--store', published], { encoding: 'utf8' });
  assert.is(again.status, 0, again.stderr);
  assert.match(again.stderr, /nothing missing/);
});

test.run();
