/**
 * Issue 25, item 5: apt inside the debian12 builder runs under the fetch door's limits in apt's own
 * terms, and a fetch that stalls ends with the package names and the mirror in its message. The real
 * containers/debian12/fetch.sh and catalog.sh run here under sh with a stand-in apt-get first in
 * PATH (one that drips for ever, or fails), and the host's own apt sources as the mirror list.
 */
import { suite } from 'uvu';
import { reportHookErrors } from '../hook-errors.ts';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { aptBoundsEnv, aptFailure, AptFetchError, APT_UPDATE_BYTES } from '../../src/families/debian12/apt-bounds.ts';
import { ContainerError } from '../../src/docker/errors.ts';
import { netLimits } from '../../src/fetch/index.ts';

const test = reportHookErrors(suite('fetch: apt bounds in the builder'));
const FETCH = path.resolve('containers/debian12/fetch.sh');
const CATALOG = path.resolve('containers/debian12/catalog.sh');
let tmp = '';

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-apt-bounds-'));
  await fs.mkdir(path.join(tmp, 'bin'));
  await fs.mkdir(path.join(tmp, 'debs'));
  // apt-get that records its arguments, then behaves as APT_FAKE says: drip (a dot a second, for ever) or fail.
  await fs.writeFile(
    path.join(tmp, 'bin', 'apt-get'),
    `#!/bin/sh\nprintf '%s\\n' "$@" > "${tmp}/args"\ncase "$APT_FAKE" in\ndrip) while :; do echo "Get:1 http://mirror slowly" >&2; sleep 1; done ;;\nfail) echo "E: Failed to fetch http://mirror/x.deb  Connection timed out" >&2; exit 100 ;;\nesac\n`,
    { mode: 0o755 },
  );
});
test.after(() => fs.rm(tmp, { recursive: true, force: true }));

const run = (script: string, args: string[], env: Record<string, string>) => {
  const t0 = Date.now();
  const r = spawnSync('sh', [script, ...args], { encoding: 'utf8', env: { ...process.env, PATH: `${tmp}/bin:${process.env.PATH}`, DEBS_DIR: path.join(tmp, 'debs'), CATALOG_PREFIXES: 'linux-', CATALOG_PATTERNS: 'x', ...env } });
  return { ...r, ms: Date.now() - t0 };
};

test('the env the host passes: apt timeout from connect/idle, a deadline from the bytes at the minimum rate', () => {
  assert.equal(aptBoundsEnv(netLimits()), { APT_TIMEOUT: '30', APT_RETRIES: '2', APT_DEADLINE: '60' });
  assert.equal(aptBoundsEnv(netLimits(), 200 * 1024 * 1024), { APT_TIMEOUT: '30', APT_RETRIES: '2', APT_DEADLINE: String(20 * 1024) }, '200 MiB of debs at 10 KiB/s');
  assert.equal(aptBoundsEnv(netLimits(5)), { APT_TIMEOUT: '5', APT_RETRIES: '2', APT_DEADLINE: '5' }, '--timeout 5');
  assert.is(aptBoundsEnv(netLimits(), APT_UPDATE_BYTES).APT_DEADLINE, String(Math.ceil((64 * 1024) / 10)), 'apt-get update: 64 MiB at 10 KiB/s');
});

test('fetch.sh: a dripping apt-get ends at APT_DEADLINE, naming the packages and the mirror (exit 124)', async () => {
  const pkgs = ['linux-headers-6.1.0-56-amd64=6.1.192-2', 'linux-kbuild-6.1=6.1.192-2'];
  const r = run(FETCH, pkgs, { APT_FAKE: 'drip', ...aptBoundsEnv(netLimits(2)) });
  assert.is(r.status, 124, r.stderr);
  assert.ok(r.ms < 2000 + 6000, `${r.ms} ms`);
  const line = r.stderr.split('\n').find((l) => l.startsWith('nbdforge: '))!;
  assert.ok(line, r.stderr);
  // What the host makes of the container's failure: that line alone, no container noise.
  const err = aptFailure(new ContainerError('container fetch.sh exited with 124', 124, r.stderr.trim()));
  assert.instance(err, AptFetchError);
  assert.is((err as Error).message, line.slice('nbdforge: '.length));
  const other = new ContainerError('container build.sh exited with 2', 2, 'make: *** [Makefile] Error 2');
  assert.is(aptFailure(other), other, 'other failures pass through unchanged');
  assert.match(line, `apt-get download of ${pkgs.join(' ')} from `);
  assert.match(line, /from (https?:\/\/\S+ )+did not finish within its deadline of 2 s/, 'the mirror(s) of the apt sources');
  assert.match(line, /try another mirror .*--timeout SECONDS \(or NBDFORGE_TIMEOUT\)/);
  const args = (await fs.readFile(path.join(tmp, 'args'), 'utf8')).split('\n');
  for (const o of ['Acquire::http::Timeout=2', 'Acquire::https::Timeout=2', 'Acquire::Retries=2']) assert.ok(args.includes(o), `${o} in ${args.join(' ')}`);
});

test('fetch.sh: apt failing names the packages and the mirror (exit 1); catalog.sh bounds apt-get update the same way', async () => {
  const r = run(FETCH, ['linux-source-6.1=6.1.192-2'], { APT_FAKE: 'fail', ...aptBoundsEnv(netLimits(2)) });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /nbdforge: apt-get download of linux-source-6\.1=6\.1\.192-2 from (https?:\/\/\S+ )+failed \(apt exit 100; it waits 2 s for a connection or data, 2 retries\)/);
  const c = run(CATALOG, [], { APT_FAKE: 'drip', ...aptBoundsEnv(netLimits(2)) });
  assert.is(c.status, 124, c.stderr);
  assert.match(c.stderr, /nbdforge: apt-get update from (https?:\/\/\S+ )+did not finish within its deadline of 2 s/);
  assert.ok((await fs.readFile(path.join(tmp, 'args'), 'utf8')).split('\n').includes('Acquire::http::Timeout=2'));
});

test.run();
