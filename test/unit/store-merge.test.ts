/** Issue 12.5: merging stores built apart. Artifacts are verified before they are taken. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import type { Manifest } from '../../src/artifacts/manifest.ts';
import { mergeStores } from '../../src/artifacts/store-merge.ts';
import { buildModule } from './fixtures-elf.ts';

const sha = (d: string | Uint8Array) => createHash('sha256').update(d).digest('hex');
let tmp = '';
let n = 0;
test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-merge-'));
});
test.after(() => fs.rm(tmp, { recursive: true, force: true }));

async function put(root: string, kernelRelease: string, tag: string, createdAt: string) {
  const src = path.join(tmp, `src-${n++}`);
  await fs.mkdir(src);
  const ko = buildModule({ vermagic: `${kernelRelease} SMP preempt mod_unload modversions `, greeting: tag }).bytes;
  await fs.writeFile(path.join(src, 'nbd.ko'), ko);
  await fs.writeFile(path.join(src, 'nbd.ko.debug'), 'd');
  const m: Manifest = {
    schema: 1, key: sha(`${kernelRelease} ${tag}`), family: 'debian12', kernelRelease, module: 'nbd', file: 'nbd.ko', debugFile: 'nbd.ko.debug',
    sha256: sha(ko), size: ko.length, debugSha256: sha('d'), vermagic: `${kernelRelease} SMP preempt mod_unload modversions`,
    checks: [{ name: 'vermagic', ok: true, detail: 'ok' }], inputs: {}, builderImage: 'sha256:' + sha('i'), compiler: 'gcc-12',
    durationMs: 1, tool: { name: 'nbdforge', version: '0.1.0' }, createdAt,
  };
  return new DirStore(root).put(m, { module: path.join(src, 'nbd.ko'), debug: path.join(src, 'nbd.ko.debug') });
}

test('two shard stores merge into one holding every key once; damaged artifacts are refused; newer builds win', async () => {
  const a = path.join(tmp, 'shard-a');
  const b = path.join(tmp, 'shard-b');
  const into = path.join(tmp, 'merged');
  const t = (d: number) => new Date(Date.UTC(2026, 0, d)).toISOString();
  await put(a, '6.1.0-47-amd64', 'x', t(1));
  await put(a, '6.1.0-50-amd64', 'x', t(1));
  await put(b, '6.1.0-56-amd64', 'x', t(1));
  const same = await put(b, '6.1.0-47-amd64', 'x', t(1)); // the same key built twice
  const damaged = await put(b, '6.1.0-55-amd64', 'x', t(1));
  await fs.appendFile(new DirStore(b).artifactPath(damaged), 'tampered');
  await put(into, '6.1.0-50-amd64', 'newer', t(5)); // the target already has a newer build of 50
  const r = await mergeStores([a, b], new DirStore(into));
  const by = (k: string, src: string) => r.find((x) => x.kernelRelease === k && x.source === src)!.status;
  assert.is(by('6.1.0-47-amd64', a), 'added');
  assert.is(by('6.1.0-47-amd64', b), 'same');
  assert.is(by('6.1.0-50-amd64', a), 'older');
  assert.is(by('6.1.0-56-amd64', b), 'added');
  assert.is(by('6.1.0-55-amd64', b), 'refused');
  const idx = await new DirStore(into).list();
  assert.equal(idx.map((e) => e.kernelRelease), ['6.1.0-47-amd64', '6.1.0-50-amd64', '6.1.0-56-amd64']);
  assert.is(idx[0].key, same.key);
  assert.is(idx[1].key, sha('6.1.0-50-amd64 newer'));
  for (const e of idx) assert.ok((await new DirStore(into).verify(e)).ok);
});

test('nbdforge store merge: exit 1 when an artifact is refused, 3 for a corrupt source, 2 for usage', async () => {
  const cli = path.resolve('bin/nbdforge.js');
  const into = path.join(tmp, 'cli-into');
  const r = spawnSync(cli, ['store', 'merge', path.join(tmp, 'shard-b'), '--into', into, '--json'], { encoding: 'utf8' });
  assert.is(r.status, 1, r.stderr);
  assert.equal(JSON.parse(r.stdout).counts, { added: 2, same: 0, older: 0, refused: 1 });
  const bad = path.join(tmp, 'corrupt');
  await fs.mkdir(bad);
  await fs.writeFile(path.join(bad, 'index.json'), '<html>');
  const c = spawnSync(cli, ['store', 'merge', bad, '--into', into], { encoding: 'utf8' });
  assert.is(c.status, 3, c.stderr);
  assert.match(c.stderr, /index\.json: not JSON/);
  assert.is(spawnSync(cli, ['store', 'merge'], { encoding: 'utf8' }).status, 2);
  assert.is(spawnSync(cli, ['store', 'split', 'x'], { encoding: 'utf8' }).status, 2);
});

test.run();
