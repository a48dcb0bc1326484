/**
 * Issue 25: every transfer has a total deadline and a minimum rate, and says what it waits for.
 * Real servers on 127.0.0.1 (test/unit/drip-server.ts) drip one byte a second, send headers and
 * stop, redirect in a loop, or trickle steadily above the minimum; the real CLI runs against them
 * with a small --timeout (or NBDFORGE_TIMEOUT) and must end within it, print the waiting line on
 * stderr, keep stdout for the result, and exit with the code its --help documents.
 */
import { suite } from 'uvu';
import { reportHookErrors } from '../hook-errors.ts';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import type { Manifest } from '../../src/artifacts/manifest.ts';
import { download, fetchBytes, deadlineMs, netLimits, stderrReporter, timeoutFrom, TransferEndedError, type NetLimits } from '../../src/fetch/index.ts';
import { buildModule } from './fixtures-elf.ts';
import { runCli, startDripServer, type DripServer } from './drip-server.ts';

const test = reportHookErrors(suite('fetch: bounds'));
const K = '6.1.0-56-amd64';
const T = 3; // --timeout in these tests: the floor of every deadline, and the cap of every other bound
/** What a run may take beyond T from its first request to its exit: the last read, the report, the exit, on a loaded machine. */
const SLACK_MS = 6000;
/** The whole run, start-up included: node's start on a machine loaded by the tiers beside (measured up to 10 s). */
const START_MS = 30_000;
const sha = (d: string | Uint8Array) => createHash('sha256').update(d).digest('hex');
const ctx = {} as { dir: string; store: string; drip: DripServer; registry: DripServer; env: NodeJS.ProcessEnv };

test.before(async () => {
  ctx.dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-bounds-'));
  ctx.env = { NBDFORGE_HOME: path.join(ctx.dir, 'home'), NBDFORGE_TIMEOUT: '' };
  const ko = buildModule({ vermagic: `${K} SMP preempt mod_unload modversions ` }).bytes;
  await fs.writeFile(path.join(ctx.dir, 'nbd.ko'), ko);
  await fs.writeFile(path.join(ctx.dir, 'nbd.ko.debug'), 'debug');
  const m: Manifest = {
    schema: 1, key: sha('k'), family: 'debian12', kernelRelease: K, module: 'nbd', file: 'nbd.ko', debugFile: 'nbd.ko.debug',
    sha256: sha(ko), size: ko.length, debugSha256: sha('debug'), vermagic: `${K} SMP preempt mod_unload modversions`,
    checks: [{ name: 'vermagic', ok: true, detail: 'ok' }], inputs: {}, builderImage: 'sha256:' + sha('i'), compiler: 'gcc-12',
    durationMs: 1, tool: { name: 'nbdforge', version: '0.1.0' }, createdAt: new Date(0).toISOString(),
  };
  ctx.store = path.join(ctx.dir, 'store');
  await new DirStore(ctx.store).put(m, { module: path.join(ctx.dir, 'nbd.ko'), debug: path.join(ctx.dir, 'nbd.ko.debug') });
  ctx.drip = await startDripServer({ dripMs: 1000 });
  ctx.registry = await startDripServer({ mode: 'drip', dripMs: 1000 });
});
test.after(async () => {
  await ctx.drip.close();
  await ctx.registry.close();
  await fs.rm(ctx.dir, { recursive: true, force: true });
});

const WAITING = (url: string) => new RegExp(`waiting for (GET )?${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\S*: \\d+ B.* in [\\d.]+ s; it ends if nothing arrives for ${T} s, if it averages under 10\\.0 KiB/s over ${T} s`);
const ACTIONABLE = /try another mirror or server, or allow more time with --timeout SECONDS \(or NBDFORGE_TIMEOUT\)/;
/** The bound is the CLI's own: from its first request to any test server until it exited (its start-up is not part of it, and is bounded apart). */
function ended(r: { ms: number; startedAt: number; endedAt: number; stderr: string; stdout: string }, label: string): void {
  const first = Math.min(...[ctx.drip, ctx.registry].flatMap((s) => s.seenAt.filter((t) => t >= r.startedAt)));
  assert.ok(Number.isFinite(first), `${label}: no request reached a test server`);
  const ms = r.endedAt - first;
  assert.ok(ms < T * 1000 + SLACK_MS, `${label}: took ${ms} ms from its first request to its exit with --timeout ${T} (${r.ms} ms with start-up)`);
  assert.ok(r.ms < T * 1000 + START_MS, `${label}: took ${r.ms} ms in all`);
  assert.not.match(r.stderr + r.stdout, /Error:|Timeout awaiting|TimeoutError/, `${label}: no internal class names or got's wording`);
}

test('the limits: defaults in one place, --timeout caps every bound, a size earns a longer deadline', () => {
  const d = netLimits();
  assert.equal([d.connectMs, d.idleMs, d.minRate, d.rateWindowMs, d.floorMs, d.noticeMs], [15_000, 30_000, 10 * 1024, 30_000, 60_000, 5_000]);
  const t = timeoutFrom('3', {});
  assert.equal([t.connectMs, t.idleMs, t.rateWindowMs, t.floorMs, t.noticeMs], [3000, 3000, 3000, 3000, 1500]);
  assert.is(timeoutFrom(undefined, { NBDFORGE_TIMEOUT: '7' }).floorMs, 7000);
  assert.is(timeoutFrom('2', { NBDFORGE_TIMEOUT: '7' }).floorMs, 2000, 'the flag wins over the environment');
  for (const bad of ['0', '-1', 'ten', '1e3', '']) assert.throws(() => timeoutFrom(bad, {}), /--timeout .*a number of seconds/);
  assert.is(deadlineMs(d, 1024), 60_000, 'small files: the floor');
  assert.is(deadlineMs(d, 100 * 1024 * 1024), 10_240_000, 'a 100 MiB RPM: its size at 10 KiB/s');
});

test('kernels sync --vault on a drip: the waiting line, ended by the rate rule within --timeout, exit 1', async () => {
  const vault = `${ctx.drip.base}/drip/vault`;
  const r = await runCli(['kernels', 'sync', '--family', 'el7', '--vault', vault, '--release', '7.9.2009', '--timeout', String(T)], ctx.env);
  assert.is(r.status, 1, r.stderr);
  ended(r, 'kernels sync');
  assert.match(r.stderr, WAITING(`${vault}/7.9.2009/`));
  assert.match(r.stderr, new RegExp(`nbdforge kernels: the el7 vault ${vault} did not deliver in time: ${vault}/7\\.9\\.2009/\\S+: too slow: \\d+ B.* received in [\\d.]+ s, under the minimum of 10\\.0 KiB/s averaged over ${T} s`));
  assert.match(r.stderr, ACTIONABLE);
  assert.is(r.stdout, '');
});

test('kernels sync --vault redirecting in a loop: named as a loop, quickly, exit 1', async () => {
  const r = await runCli(['kernels', 'sync', '--family', 'el7', '--vault', `${ctx.drip.base}/loop/vault`, '--release', '7.9.2009', '--timeout', String(T)], ctx.env);
  assert.is(r.status, 1, r.stderr);
  ended(r, 'loop');
  assert.match(r.stderr, /repomd\.xml(\.asc)?: redirected too many times \(a redirect loop\?\); check the URL or try another mirror/);
});

const PH = (from: string, more: string[] = []) => ['prepare-host', '--from', from, '--index-sha256', 'a'.repeat(64), '--kernel', K, '--emit-script', path.join(ctx.dir, 'out.sh'), ...more];

test('prepare-host --from a dripping store: waiting line, refused within --timeout (exit 3), no script written', async () => {
  const from = `${ctx.drip.base}/drip/store`;
  const r = await runCli(PH(from, ['--timeout', String(T)]), ctx.env);
  assert.is(r.status, 3, r.stderr);
  ended(r, 'prepare-host drip');
  assert.match(r.stderr, /^\[prepare-host\] waiting for /m);
  assert.match(r.stderr, WAITING(`${from}/index.json`));
  assert.match(r.stdout, new RegExp(`result: refused: GET ${from}/index\\.json: too slow: \\d+ B of 1\\.0 MiB received in [\\d.]+ s, under the minimum of 10\\.0 KiB/s averaged over ${T} s`));
  assert.match(r.stdout, ACTIONABLE);
  assert.is(await fs.stat(path.join(ctx.dir, 'out.sh')).catch(() => null), null);
});

test('prepare-host --from a store that sends headers and stops (NBDFORGE_TIMEOUT, --json): idle named, stdout is the JSON alone', async () => {
  const from = `${ctx.drip.base}/stall/store`;
  const r = await runCli(PH(from, ['--json']), { ...ctx.env, NBDFORGE_TIMEOUT: String(T) });
  assert.is(r.status, 3, r.stderr);
  ended(r, 'prepare-host stall');
  assert.match(r.stderr, WAITING(`${from}/index.json`));
  const out = JSON.parse(r.stdout);
  assert.is(out.result.outcome, 'refused');
  assert.match(out.result.message, new RegExp(`GET ${from}/index\\.json: timed out waiting for the body: nothing arrived for ${T} s \\(10 B of 1\\.0 MiB received`));
});

test('prepare-host --from a store redirecting in a loop: named as a loop, refused (exit 3)', async () => {
  const r = await runCli(PH(`${ctx.drip.base}/loop/store`, ['--timeout', String(T)]), ctx.env);
  assert.is(r.status, 3, r.stderr);
  ended(r, 'prepare-host loop');
  assert.match(r.stdout, /result: refused: GET http:\/\/127\.0\.0\.1:\d+\/loop\/store\/index\.json: redirected too many times \(a redirect loop\?\); check the URL/);
});

test('publish --to oci:// a dripping registry: waiting line, refused within --timeout, exit 3 as --help says', async () => {
  const to = `oci://127.0.0.1:${ctx.registry.port}/x`;
  const r = await runCli(['publish', '--to', to, '--store', ctx.store, '--unsigned', '--timeout', String(T)], ctx.env);
  assert.is(r.status, 3, r.stderr);
  ended(r, 'publish');
  assert.match(r.stderr, WAITING(`${ctx.registry.base}/v2/`));
  assert.match(r.stderr, new RegExp(`nbdforge publish: ${to}: GET ${ctx.registry.base}/v2/: too slow: `));
  assert.match(r.stderr, ACTIONABLE);
});

test('pull from a dripping registry (NBDFORGE_TIMEOUT): waiting line, ends within it, exit 1, nothing stored', async () => {
  const dir = path.join(ctx.dir, 'pulled');
  const r = await runCli(['pull', `oci://127.0.0.1:${ctx.registry.port}/x:${K}`, '--allow-unsigned', '--store', dir], { ...ctx.env, NBDFORGE_TIMEOUT: String(T) });
  assert.is(r.status, 1, r.stderr);
  ended(r, 'pull');
  assert.match(r.stderr, WAITING(`${ctx.registry.base}/v2/x/manifests/${K}`));
  assert.match(r.stderr, /nbdforge pull: oci:\/\/127\.0\.0\.1:\d+\/x: GET \S+\/manifests\/\S+: too slow: /);
  assert.is(await fs.stat(dir).catch(() => null), null);
});

test('--timeout that is not a number of seconds: usage error, exit 2, before any request', async () => {
  const before = ctx.registry.seen.length;
  const r = await runCli(['pull', `oci://127.0.0.1:${ctx.registry.port}/x:${K}`, '--allow-unsigned', '--timeout', 'soon'], ctx.env);
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, /--timeout "soon": give a number of seconds/);
  assert.is(ctx.registry.seen.length, before);
});

test('every fetching command shows --timeout and NBDFORGE_TIMEOUT in --help', async () => {
  for (const c of [['kernels'], ['build'], ['matrix'], ['prepare-host'], ['publish'], ['pull']]) {
    const r = await runCli([...c, '--help'], ctx.env);
    assert.match(r.stdout, /--timeout S +(el7: )?bound each download to S seconds \(default 60, env NBDFORGE_TIMEOUT\)/, c[0]);
  }
});

// Limits scaled down so a multi-megabyte transfer takes seconds, not minutes: the same rules.
const small: NetLimits = { connectMs: 2000, idleMs: 1000, minRate: 128 * 1024, rateWindowMs: 1500, floorMs: 2000, noticeMs: 1000 };

test('slow but steady (above the minimum rate): 2 MiB at 512 KiB/s completes past the floor, with a progress line on a terminal', async () => {
  const body = randomBytes(2 * 1024 * 1024);
  const s = await startDripServer({ body, rate: 512 * 1024 });
  const cacheDir = path.join(ctx.dir, 'cache-steady');
  const writes: string[] = [];
  const tty = Object.assign(new (await import('node:stream')).Writable({ write: (c, _e, cb) => (writes.push(String(c)), cb()) }), { isTTY: true });
  try {
    const t0 = Date.now();
    const file = await download({ url: `${s.base}/steady/big.bin`, sha256: sha(body), size: body.length, cacheDir, net: { limits: small, report: stderrReporter(tty) } });
    const ms = Date.now() - t0;
    assert.ok(ms > small.floorMs, `took ${ms} ms: longer than the floor, so the size-derived deadline carried it`);
    assert.is(sha(await fs.readFile(file)), sha(body));
    assert.not.ok(writes.some((w) => w.includes('waiting for')), 'no waiting line above the minimum rate');
    assert.ok(writes.some((w) => /^\r\x1b\[2Khttp:\/\/127\.0\.0\.1:\d+\/steady\/big\.bin  [\d.]+ MiB of 2\.0 MiB  [\d.]+ KiB\/s  ETA 0:0\d$/.test(w)), `a progress line: ${JSON.stringify(writes.slice(0, 3))}`);
    assert.is(writes.at(-1), '\r\x1b[2K', 'cleared at the end');
  } finally {
    await s.close();
  }
});

test('a drip under the same limits ends by the rate rule, once, with one waiting line; the deadline bounds retries', async () => {
  const s = await startDripServer({ dripMs: 200, length: 2 * 1024 * 1024 });
  const lines: string[] = [];
  try {
    const t0 = Date.now();
    const err = await download({ url: `${s.base}/drip/big.bin`, sha256: 'b'.repeat(64), size: 2 * 1024 * 1024, cacheDir: path.join(ctx.dir, 'cache-drip'), net: { limits: small, report: { waiting: (l) => lines.push(l) } } }).catch((e: unknown) => e);
    assert.instance(err, TransferEndedError);
    assert.is((err as TransferEndedError).bound, 'rate');
    assert.ok(Date.now() - t0 < small.rateWindowMs + 1500, `${Date.now() - t0} ms`);
    assert.is(s.seen.length, 1, 'the rate rule is not retried: the same server would drip again');
    assert.is(lines.length, 1);
    assert.match(lines[0], /^waiting for http:\/\/127\.0\.0\.1:\d+\/drip\/big\.bin: \d+ B of 2\.0 MiB in [\d.]+ s; it ends/);
    // Headers then nothing: idle ends each attempt, retries resume, the deadline ends them all.
    const t1 = Date.now();
    const stall = await download({ url: `${s.base}/stall/big.bin`, sha256: 'c'.repeat(64), size: 2 * 1024 * 1024, cacheDir: path.join(ctx.dir, 'cache-stall'), retry: { retries: 100, baseDelayMs: 10, maxDelayMs: 50 }, net: { limits: { ...small, floorMs: 2500, minRate: 1 << 20 } } }).catch((e: unknown) => e);
    const spent = Date.now() - t1;
    assert.instance(stall, Error);
    assert.match((stall as Error).message, /nothing arrived for 1 s|not finished at its deadline of 2\.5 s/);
    assert.ok(spent < 2500 + 1000, `all tries together: ${spent} ms`);
    assert.ok(s.seen.filter((x) => x.includes('/stall/')).length >= 2, 'idle was retried inside the deadline');
  } finally {
    await s.close();
  }
});

test('fetchBytes on a redirect loop and on a silent server: named, bounded', async () => {
  const loop = await fetchBytes(`${ctx.drip.base}/loop/repomd.xml`, { net: { limits: small } }).catch((e: unknown) => e);
  assert.match((loop as Error).message, /redirected too many times \(a redirect loop\?\)/);
  const t0 = Date.now();
  const before = ctx.drip.seen.length;
  const silent = await fetchBytes(`${ctx.drip.base}/silent/repomd.xml`, { maxBytes: 4096, net: { limits: small } }).catch((e: unknown) => e);
  assert.match((silent as Error).message, /timed out waiting for the headers: nothing arrived for 1 s/);
  assert.ok(Date.now() - t0 < 2500);
  assert.is(ctx.drip.seen.length - before, 1, 'a server that never answers is not asked again');
});

test.run();
