import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { mapLimit, ProgressTracker, createProgressRenderer, formatBytes, formatEta, joinLocation, parseLocation } from '../../src/fetch/index.ts';
import { backoffDelay } from '../../src/fetch/backoff.ts';

test('mapLimit keeps order and never runs more than the limit', async () => {
  let running = 0;
  let peak = 0;
  const out = await mapLimit([5, 1, 4, 2, 3, 0, 6], 3, async (n) => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, n * 3));
    running--;
    return n * 10;
  });
  assert.equal(out, [50, 10, 40, 20, 30, 0, 60]);
  assert.is(peak, 3);
});

test('mapLimit: the first failure stops new work and is rethrown', async () => {
  const started: number[] = [];
  try {
    await mapLimit([1, 2, 3, 4, 5, 6], 2, async (n) => {
      started.push(n);
      if (n === 2) throw new Error('boom 2');
      await new Promise((r) => setTimeout(r, 5));
    });
    assert.unreachable();
  } catch (err) {
    assert.is((err as Error).message, 'boom 2');
  }
  assert.ok(started.length < 6, `started ${started}`);
  await mapLimit([], 4, async () => 1).then((r) => assert.equal(r, []));
  try {
    await mapLimit([1], 0, async () => 1);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, RangeError);
  }
});

test('backoff doubles up to the ceiling, with jitter in the upper half', () => {
  const p = { retries: 5, baseDelayMs: 100, maxDelayMs: 1000 };
  assert.is(backoffDelay(1, p, () => 0), 50);
  assert.is(backoffDelay(1, p, () => 1), 100);
  assert.is(backoffDelay(3, p, () => 1), 400);
  assert.is(backoffDelay(10, p, () => 1), 1000);
  assert.is(backoffDelay(10, p, () => 0), 500);
});

test('locations: https, file:// and plain paths; no climbing out of the base', () => {
  assert.equal(parseLocation('https://vault.example/centos'), { kind: 'http', url: 'https://vault.example/centos' });
  assert.equal(parseLocation('file:///srv/vault/x.rpm'), { kind: 'file', path: '/srv/vault/x.rpm', url: 'file:///srv/vault/x.rpm' });
  assert.is(parseLocation('/srv/vault').kind, 'file');
  assert.is(joinLocation('https://vault.example/centos', '7.9.2009/os/x86_64/repodata/repomd.xml'), 'https://vault.example/centos/7.9.2009/os/x86_64/repodata/repomd.xml');
  assert.is(joinLocation('https://vault.example/centos/', 'a/b'), 'https://vault.example/centos/a/b');
  assert.is(joinLocation('file:///srv/vault', 'a/b.rpm'), 'file:///srv/vault/a/b.rpm');
  assert.is(joinLocation('/srv/vault', 'a/b.rpm'), path.join('/srv/vault', 'a', 'b.rpm'));
  assert.throws(() => joinLocation('/srv/vault', '../etc/passwd'), /climbs out/);
  assert.throws(() => joinLocation('https://v.example/', 'https://evil.example/x'), /not a relative/);
  assert.throws(() => parseLocation('ftp://x/y'), /unsupported URL scheme/);
});

test('progress: bytes, rate over a window, ETA', () => {
  assert.is(formatBytes(512), '512 B');
  assert.is(formatBytes(1536), '1.5 KiB');
  assert.is(formatBytes(5 * 1024 * 1024), '5.0 MiB');
  assert.is(formatEta(undefined), '--:--');
  assert.is(formatEta(65), '1:05');
  assert.is(formatEta(3725), '1:02:05');
  let now = 0;
  const t = new ProgressTracker(() => now);
  const ev = (url: string, received: number, total: number, done = false, resumedFrom = 0) => ({ url, received, total, resumedFrom, done, cached: false });
  t.update(ev('a', 0, 10 * 1048576));
  now = 1000;
  t.update(ev('a', 1048576, 10 * 1048576));
  now = 2000;
  t.update(ev('a', 2 * 1048576, 10 * 1048576));
  t.update(ev('b', 4096, 4096, true));
  assert.ok(Math.abs(t.rate() - (2 * 1048576 + 4096) / 2) < 1);
  assert.match(t.line(), /^1\/2 files {2}2\.0 MiB \/ 10\.0 MiB {2}1\.0 MiB\/s {2}ETA 0:0[78]$/);
});

test('progress: a resumed prefix is not counted as speed', () => {
  let now = 0;
  const t = new ProgressTracker(() => now);
  t.update({ url: 'a', received: 5_000_000, total: 6_000_000, resumedFrom: 5_000_000, done: false, cached: false });
  now = 1000;
  t.update({ url: 'a', received: 5_100_000, total: 6_000_000, resumedFrom: 5_000_000, done: false, cached: false });
  assert.is(Math.round(t.rate()), 100_000);
});

test('renderer draws on a TTY only, throttled, and ends the line', () => {
  const chunks: string[] = [];
  let now = 0;
  const tty = { isTTY: true, write: (s: string) => (chunks.push(s), true) } as unknown as NodeJS.WritableStream & { isTTY: boolean };
  const r = createProgressRenderer(tty, { intervalMs: 100, now: () => now });
  for (let i = 1; i <= 10; i++) {
    now = i * 30;
    r.onProgress({ url: 'x', received: i * 1000, total: 10_000, resumedFrom: 0, done: i === 10, cached: false });
  }
  r.finish();
  assert.ok(chunks.length >= 3 && chunks.length <= 6, `${chunks.length} writes`);
  assert.ok(chunks.slice(0, -1).every((c) => c.startsWith('\r\x1b[2K')));
  assert.match(chunks.at(-2)!, '1/1 files');
  assert.is(chunks.at(-1), '\n');
  const silent: string[] = [];
  const pipe = { isTTY: false, write: (s: string) => (silent.push(s), true) } as unknown as NodeJS.WritableStream;
  const q = createProgressRenderer(pipe);
  q.onProgress({ url: 'x', received: 1, total: 1, resumedFrom: 0, done: true, cached: false });
  q.finish();
  assert.equal(silent, []);
});

test.run();
