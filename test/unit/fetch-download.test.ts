import { suite } from 'uvu';
import { reportHookErrors } from '../hook-errors.ts';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes, createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { download, cachePath, FetchError, ChecksumError, type DownloadProgress } from '../../src/fetch/index.ts';
import { startFixtureServer, type FixtureServer } from '../fixtures/vault/server.ts';

const SIZE = 3 * 1024 * 1024 + 12345;
const ctx = {} as { dir: string; root: string; blob: Buffer; sha: string; server: FixtureServer; n: number };
const test = reportHookErrors(suite('fetch: download'));
// Short backoff; an idle timeout long enough that a busy machine never trips it by accident.
const fast = { retry: { retries: 3, baseDelayMs: 5, maxDelayMs: 20 }, timeouts: { idleMs: 5000, connectMs: 5000 } };
/** A fresh cache per test, so one test's cached file never answers another's. */
const freshCache = async () => fs.mkdtemp(path.join(ctx.dir, `cache-${ctx.n++}-`));
const listFiles = async (dir: string): Promise<string[]> =>
  ((await fs.readdir(dir, { recursive: true, withFileTypes: true })) as import('node:fs').Dirent[])
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)));

test.before(async () => {
  ctx.dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-fetch-'));
  ctx.root = path.join(ctx.dir, 'www');
  ctx.n = 0;
  await fs.mkdir(ctx.root);
  ctx.blob = randomBytes(SIZE);
  ctx.sha = createHash('sha256').update(ctx.blob).digest('hex');
  await fs.writeFile(path.join(ctx.root, 'blob.bin'), ctx.blob);
  ctx.server = await startFixtureServer(ctx.root);
});
test.after(async () => {
  await ctx.server.close();
  await fs.rm(ctx.dir, { recursive: true, force: true });
});
test.before.each(() => {
  ctx.server.clearFaults();
  ctx.server.requests.length = 0;
});

const url = () => `${ctx.server.url}/blob.bin`;

test('downloads into <cache>/sha256/<ab>/<hash>, then serves the cache without the network', async () => {
  const cacheDir = await freshCache();
  const events: DownloadProgress[] = [];
  const p = await download({ url: url(), sha256: ctx.sha, size: SIZE, cacheDir, onProgress: (e) => events.push(e), ...fast });
  assert.is(p, path.join(cacheDir, 'sha256', ctx.sha.slice(0, 2), ctx.sha));
  assert.ok((await fs.readFile(p)).equals(ctx.blob));
  assert.equal(await listFiles(cacheDir), [path.join('sha256', ctx.sha.slice(0, 2), ctx.sha)], 'no partial file or lock left');
  assert.ok(events.length > 2);
  assert.ok(events.every((e, i) => i === 0 || e.received >= events[i - 1].received), 'progress is monotonic');
  assert.equal(events.at(-1), { url: url(), received: SIZE, total: SIZE, resumedFrom: 0, done: true, cached: false });
  const before = ctx.server.requests.length;
  const again = await download({ url: url(), sha256: ctx.sha, size: SIZE, cacheDir, ...fast });
  assert.is(again, p);
  assert.is(ctx.server.requests.length, before, 'a verified cache hit makes no request');
});

test('issue 8.10: a server that sends more than the announced size is cut off at it, nothing cached or left on disk', async () => {
  const http = await import('node:http');
  let sent = 0;
  const srv = http.createServer((_req, res) => {
    res.writeHead(200); // chunked, no length: only the repodata's size can stop it
    const chunk = Buffer.alloc(64 * 1024, 7);
    const pump = () => {
      while (sent < 2 ** 30 && res.write(chunk)) sent += chunk.length;
      if (sent < 2 ** 30) res.once('drain', pump);
      else res.end();
    };
    res.on('close', () => res.removeAllListeners('drain'));
    pump();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const cacheDir = await freshCache();
  const t0 = Date.now();
  try {
    await download({ url: `http://127.0.0.1:${(srv.address() as { port: number }).port}/endless.bin`, sha256: ctx.sha, size: SIZE, cacheDir, ...fast });
    assert.unreachable('an endless body was accepted');
  } catch (err) {
    assert.instance(err, ChecksumError);
    assert.match((err as Error).message, `more than the ${SIZE} bytes the repodata announces`);
  } finally {
    srv.closeAllConnections();
    await new Promise((r) => srv.close(r));
  }
  assert.ok(Date.now() - t0 < 10_000);
  assert.ok(sent < 256 * 2 ** 20, `sent ${sent}`);
  assert.equal((await listFiles(cacheDir)).filter((f) => !f.endsWith('.lock')), []);
});

test('a cached file that no longer matches its hash is replaced, never used', async () => {
  const cacheDir = await freshCache();
  const p = await download({ url: url(), sha256: ctx.sha, size: SIZE, cacheDir, ...fast });
  const bad = Buffer.from(ctx.blob);
  bad[1000] ^= 1;
  await fs.writeFile(p, bad);
  const again = await download({ url: url(), sha256: ctx.sha, size: SIZE, cacheDir, ...fast });
  assert.ok((await fs.readFile(again)).equals(ctx.blob));
  assert.is(ctx.server.requests.length, 2, 'the corrupt cache entry forced a second download');
});

test('a connection dropped halfway resumes with a Range request; almost nothing is sent twice', async () => {
  const cacheDir = await freshCache();
  const half = Math.floor(SIZE / 2);
  const before = ctx.server.bytesSent('/blob.bin');
  ctx.server.fault('/blob.bin', { dropAfter: half });
  const p = await download({ url: url(), sha256: ctx.sha, size: SIZE, cacheDir, ...fast });
  assert.ok((await fs.readFile(p)).equals(ctx.blob));
  const reqs = ctx.server.requests.filter((r) => r.path === '/blob.bin');
  assert.is(reqs.length, 2);
  assert.is(reqs[0].range, undefined);
  assert.ok(reqs[1].range?.startsWith('bytes='), 'second request is a Range request');
  assert.is(reqs[1].status, 206);
  const resumedAt = Number(/bytes=(\d+)-/.exec(reqs[1].range!)![1]);
  const sentTwice = ctx.server.bytesSent('/blob.bin') - before - SIZE;
  assert.ok(resumedAt > 0 && resumedAt <= half, `resumed at ${resumedAt}`);
  assert.is(sentTwice, half - resumedAt, 'bytes sent twice are exactly what never reached the disk');
  assert.ok(sentTwice < 256 * 1024, `sent twice: ${sentTwice} bytes`);
});

test('a partial file left by an earlier run is resumed, not restarted', async () => {
  const cacheDir = await freshCache();
  const part = path.join(cacheDir, 'partial', `${ctx.sha}.part`);
  await fs.mkdir(path.dirname(part), { recursive: true });
  await fs.writeFile(part, ctx.blob.subarray(0, 1_000_000));
  const events: DownloadProgress[] = [];
  await download({ url: url(), sha256: ctx.sha, size: SIZE, cacheDir, onProgress: (e) => events.push(e), ...fast });
  assert.is(ctx.server.requests[0].range, 'bytes=1000000-');
  assert.is(events.at(-1)!.resumedFrom, 1_000_000);
});

test('a stalled transfer times out and resumes', async () => {
  const cacheDir = await freshCache();
  const before = ctx.server.bytesSent('/blob.bin');
  ctx.server.fault('/blob.bin', { stallAfter: 500_000 });
  const t0 = Date.now();
  const p = await download({ url: url(), sha256: ctx.sha, size: SIZE, cacheDir, ...fast, timeouts: { idleMs: 300 } });
  assert.ok(Date.now() - t0 >= 300, 'waited for the idle timeout');
  assert.ok((await fs.readFile(p)).equals(ctx.blob));
  assert.is(ctx.server.requests[1]?.status, 206);
  assert.ok(ctx.server.bytesSent('/blob.bin') - before - SIZE < 256 * 1024);
});

test('a server that ignores Range gets a clean restart and the file is still right', async () => {
  const cacheDir = await freshCache();
  ctx.server.fault('/blob.bin', { dropAfter: 700_000 });
  ctx.server.requests.length = 0;
  // The second request gets the whole file with 200 despite its Range header.
  await download({
    url: url(),
    sha256: ctx.sha,
    size: SIZE,
    cacheDir,
    ...fast,
    onProgress: (e) => {
      if (e.received >= 600_000 && !e.done) ctx.server.fault('/blob.bin', { ignoreRange: true });
    },
  });
  const reqs = ctx.server.requests;
  assert.is(reqs.length, 2);
  assert.ok(reqs[1].range);
  assert.is(reqs[1].status, 200);
  assert.ok((await fs.readFile(cachePath(cacheDir, ctx.sha))).equals(ctx.blob));
});

test('corrupt bytes are rejected and nothing is cached', async () => {
  const cacheDir = await freshCache();
  ctx.server.fault('/blob.bin', { corruptAt: 123_456, times: Infinity });
  try {
    await download({ url: url(), sha256: ctx.sha, size: SIZE, cacheDir, ...fast });
    assert.unreachable('must throw');
  } catch (err) {
    assert.instance(err, ChecksumError);
    assert.match((err as Error).message, url());
    assert.match((err as Error).message, ctx.sha);
  }
  assert.equal(await listFiles(cacheDir), [], 'no cache entry, no partial file, no lock');
  assert.is(ctx.server.requests.length, 1, 'a mismatch on a from-scratch transfer is not retried');
});

test('a 404 fails at once with an error naming the URL and the status', async () => {
  const cacheDir = await freshCache();
  const missing = `${ctx.server.url}/no/such/file.rpm`;
  try {
    await download({ url: missing, sha256: ctx.sha, cacheDir, ...fast });
    assert.unreachable('must throw');
  } catch (err) {
    assert.instance(err, FetchError);
    assert.is((err as FetchError).status, 404);
    assert.is((err as FetchError).url, missing);
    assert.match((err as Error).message, missing);
    assert.match((err as Error).message, '404');
  }
  assert.is(ctx.server.requests.length, 1, '404 is not retried');
});

test('5xx is retried with backoff; a persistent 5xx gives up after the bounded retries', async () => {
  let cacheDir = await freshCache();
  ctx.server.fault('/blob.bin', { status: 503, times: 2 });
  await download({ url: url(), sha256: ctx.sha, size: SIZE, cacheDir, ...fast });
  assert.equal(ctx.server.requests.map((r) => r.status), [503, 503, 200]);

  cacheDir = await freshCache();
  ctx.server.requests.length = 0;
  ctx.server.fault('/blob.bin', { status: 500, times: Infinity });
  try {
    await download({ url: url(), sha256: ctx.sha, size: SIZE, cacheDir, ...fast });
    assert.unreachable('must throw');
  } catch (err) {
    assert.instance(err, FetchError);
    assert.is((err as FetchError).status, 500);
    assert.match((err as Error).message, url());
    assert.match((err as Error).message, 'gave up after 4 attempts');
  }
  assert.is(ctx.server.requests.length, 4, '1 try + 3 retries');
});

test('a size that disagrees with the server is refused before any byte is cached', async () => {
  const cacheDir = await freshCache();
  try {
    await download({ url: url(), sha256: ctx.sha, size: SIZE + 1, cacheDir, ...fast });
    assert.unreachable('must throw');
  } catch (err) {
    assert.instance(err, FetchError);
    assert.match((err as Error).message, `expected ${SIZE + 1}`);
  }
  assert.equal(await listFiles(cacheDir), []);
});

test('file:// URLs and plain local paths go through the same hash check', async () => {
  const src = path.join(ctx.root, 'blob.bin');
  const a = await download({ url: pathToFileURL(src).href, sha256: ctx.sha, cacheDir: await freshCache(), ...fast });
  const b = await download({ url: src, sha256: ctx.sha, size: SIZE, cacheDir: await freshCache(), ...fast });
  assert.ok((await fs.readFile(a)).equals(ctx.blob));
  assert.ok((await fs.readFile(b)).equals(ctx.blob));
  const cacheDir = await freshCache();
  try {
    await download({ url: src, sha256: 'a'.repeat(64), cacheDir, ...fast });
    assert.unreachable('must throw');
  } catch (err) {
    assert.instance(err, ChecksumError);
  }
  try {
    await download({ url: path.join(ctx.root, 'nope.rpm'), sha256: ctx.sha, cacheDir, ...fast });
    assert.unreachable('must throw');
  } catch (err) {
    assert.instance(err, FetchError);
    assert.match((err as Error).message, 'nope.rpm: not found');
  }
  assert.equal(await listFiles(cacheDir), []);
});

test('concurrent downloads of one file share one transfer (partial-file lock)', async () => {
  const cacheDir = await freshCache();
  const before = ctx.server.bytesSent('/blob.bin');
  const [a, b, c] = await Promise.all([1, 2, 3].map(() => download({ url: url(), sha256: ctx.sha, size: SIZE, cacheDir, ...fast })));
  assert.is(a, b);
  assert.is(b, c);
  assert.is(ctx.server.bytesSent('/blob.bin') - before, SIZE, 'the bytes went over the wire once');
  assert.equal(await listFiles(cacheDir), [path.join('sha256', ctx.sha.slice(0, 2), ctx.sha)]);
});

test('an aborted download keeps its partial file for a later resume', async () => {
  const cacheDir = await freshCache();
  ctx.server.fault('/blob.bin', { stallAfter: 800_000 });
  const ac = new AbortController();
  const p = download({
    url: url(),
    sha256: ctx.sha,
    size: SIZE,
    cacheDir,
    signal: ac.signal,
    ...fast,
    timeouts: { idleMs: 10_000 },
    onProgress: (e) => {
      if (e.received >= 800_000) ac.abort();
    },
  });
  try {
    await p;
    assert.unreachable('must throw');
  } catch {
    /* aborted */
  }
  const part = path.join(cacheDir, 'partial', `${ctx.sha}.part`);
  assert.ok((await fs.stat(part)).size > 0);
  await download({ url: url(), sha256: ctx.sha, size: SIZE, cacheDir, ...fast });
  assert.match(ctx.server.requests.at(-1)!.range ?? '', /^bytes=\d+-$/);
});

test.run();
