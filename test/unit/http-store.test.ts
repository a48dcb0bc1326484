/**
 * Issue 8 (7, 9, 10, 11): an http store is untrusted. A real http server on 127.0.0.1 serves a real
 * store and, per path prefix, misbehaves: HTML, truncated JSON, a dropped connection, a stalled body,
 * an endless module, a 404 behind credentials. Each failure names the URL (without the password),
 * prepare-host refuses with exit 3, and memory stays bounded.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import type { Manifest } from '../../src/artifacts/manifest.ts';
import { HttpSource } from '../../src/prepare-host/http-source.ts';
import { SourceError } from '../../src/prepare-host/source-error.ts';
import { resolveArtifact } from '../../src/prepare-host/resolve-artifact.ts';
import { buildModule } from './fixtures-elf.ts';

const K = '6.1.0-56-amd64';
// a plain store (not a signed published directory): opted out of the index signature, as prepare-host --from would need
const TRUST = { insecureNoSignature: true };
const sha = (d: string | Uint8Array) => createHash('sha256').update(d).digest('hex');
const cli = path.resolve('bin/nbdforge.js');
let tmp = '';
let store = '';
let base = '';
let server: http.Server;
let moduleSize = 0;
let sentForEndless = 0;

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-http-store-'));
  store = path.join(tmp, 'store');
  const ko = buildModule({ vermagic: `${K} SMP preempt mod_unload modversions ` }).bytes;
  moduleSize = ko.length;
  await fs.writeFile(path.join(tmp, 'nbd.ko'), ko);
  await fs.writeFile(path.join(tmp, 'nbd.ko.debug'), 'debug');
  const m: Manifest = {
    schema: 1, key: sha('k'), family: 'debian12', kernelRelease: K, module: 'nbd', file: 'nbd.ko', debugFile: 'nbd.ko.debug',
    sha256: sha(ko), size: ko.length, debugSha256: sha('debug'), vermagic: `${K} SMP preempt mod_unload modversions`,
    checks: [{ name: 'vermagic', ok: true, detail: 'ok' }], inputs: {}, builderImage: 'sha256:' + sha('i'), compiler: 'gcc-12',
    durationMs: 1, tool: { name: 'nbdforge', version: '0.1.0' }, createdAt: new Date(0).toISOString(),
  };
  await new DirStore(store).put(m, { module: path.join(tmp, 'nbd.ko'), debug: path.join(tmp, 'nbd.ko.debug') });

  server = http.createServer(async (req, res) => {
    const url = new URL(req.url!, 'http://x');
    const [, mode, ...rest] = url.pathname.split('/');
    const rel = decodeURIComponent(rest.join('/'));
    const body = await fs.readFile(path.join(store, rel)).catch(() => undefined);
    if (mode === 'auth') {
      res.writeHead(404).end('nope');
      return;
    }
    if (!body) {
      res.writeHead(404).end('not found');
      return;
    }
    if (mode === 'html' && rel === 'index.json') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><html><body>Welcome to nginx!</body></html>');
    if (mode === 'trunc' && rel === 'index.json') return void res.writeHead(200).end(body.subarray(0, body.length / 2));
    if (mode === 'drop' && rel.endsWith('nbd.ko')) {
      res.writeHead(200, { 'content-length': String(body.length) });
      res.write(body.subarray(0, 100));
      setTimeout(() => res.socket?.destroy(), 50);
      return;
    }
    if (mode === 'stall' && rel.endsWith('nbd.ko')) {
      res.writeHead(200, { 'content-length': String(body.length) });
      res.write(body.subarray(0, 10)); // then nothing, for ever
      return;
    }
    if (mode === 'endless' && rel.endsWith('nbd.ko')) {
      // a "4 GiB module": chunked, no length announced, bytes until the client hangs up
      res.writeHead(200);
      const chunk = Buffer.alloc(1 << 20);
      const pump = () => {
        while (sentForEndless < 4 * 2 ** 30 && res.write(chunk)) sentForEndless += chunk.length;
        if (sentForEndless < 4 * 2 ** 30) res.once('drain', pump);
        else res.end();
      };
      res.on('close', () => res.removeAllListeners('drain'));
      pump();
      return;
    }
    res.writeHead(200).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

test.after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await fs.rm(tmp, { recursive: true, force: true });
});

async function refused(p: Promise<unknown>, re: RegExp): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, SourceError, `${(err as Error).name}: ${(err as Error).message}`);
    assert.match((err as Error).message, re);
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

test('a healthy http store resolves', async () => {
  const a = await resolveArtifact(new HttpSource(`${base}/ok/`, TRUST), K);
  assert.is(a.bytes.length, moduleSize);
});

test('9: HTML instead of JSON, truncated JSON: the URL and what was wrong', async () => {
  const m1 = await refused(new HttpSource(`${base}/html/`, TRUST).list(), /an HTML page, not JSON/);
  assert.match(m1, `GET ${base}/html/index.json`);
  const m2 = await refused(new HttpSource(`${base}/trunc/`, TRUST).list(), /not JSON .*truncated\?/);
  assert.match(m2, `${base}/trunc/index.json`);
});

test('9: a connection dropped mid-body names the URL and the bytes received', async () => {
  await refused(resolveArtifact(new HttpSource(`${base}/drop/`, TRUST), K), /GET http:\/\/127\.0\.0\.1:\d+\/drop\/.*nbd\.ko: connection dropped after 100 bytes/);
});

test('7: a stalled body times out with the same message shape as the headers, naming the URL', async () => {
  const t0 = Date.now();
  await refused(resolveArtifact(new HttpSource(`${base}/stall/`, TRUST, { idleMs: 500 }), K), /GET http:\/\/127\.0\.0\.1:\d+\/stall\/.*nbd\.ko: timed out waiting for the body/);
  assert.ok(Date.now() - t0 < 5000);
});

test('10: a module larger than its manifest announces is cut off at that size, streaming, memory bounded', async () => {
  const rss0 = process.memoryUsage().rss;
  const t0 = Date.now();
  await refused(resolveArtifact(new HttpSource(`${base}/endless/`, TRUST), K), new RegExp(`more than the ${moduleSize} bytes allowed \\(the size its manifest announces\\)`));
  assert.ok(Date.now() - t0 < 10_000, `${Date.now() - t0} ms`);
  assert.ok(process.memoryUsage().rss - rss0 < 256 * 2 ** 20, 'memory stayed bounded');
  assert.ok(sentForEndless < 512 * 2 ** 20, `the server got to send ${sentForEndless} bytes before the client hung up`);
});

test('11 + 8/9: prepare-host --from an http store that fails: exit 3, URL named, password never printed', async () => {
  const run = (from: string) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn(cli, ['prepare-host', '--from', from, '--kernel', K, '--emit-script', path.join(tmp, 'p.sh')], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NBDFORGE_INSECURE_NO_SIGNATURE: '1' } });
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.stderr.on('data', (d) => (out += d));
      c.on('exit', (code) => resolve({ code, out }));
    });
  const secret = await run(`${base.replace('http://', 'http://alice:s3cr3t-pw@')}/auth/`);
  assert.is(secret.code, 3, secret.out);
  assert.not.match(secret.out, 's3cr3t-pw');
  assert.match(secret.out, /http:\/\/\*\*\*@127\.0\.0\.1:\d+\/auth\/index\.json: HTTP 404/);
  const html = await run(`${base}/html/`);
  assert.is(html.code, 3, html.out);
  assert.match(html.out, /index\.json: an HTML page, not JSON/);
  assert.not.match(html.out, /SyntaxError/);
});

test.run();
