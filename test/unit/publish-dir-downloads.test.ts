/**
 * How install.sh downloads (issue 20 item 4: near the emitted script's time, so as few curl start-ups as
 * the layout allows): with curl, index.json, its signature and the kernel's kernels/<release>/ copies
 * (module, plan, proof) come in one curl run on one kept-alive connection (an unproven kernel's missing
 * proof.json is the last request, a 404 that fails nothing); wget fetches a file per run, by the index's
 * paths. Counted at a server of its own on 127.0.0.1 that also counts connections.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { putModule, gpgHome, cli, type GpgHome } from './publish-fixtures.ts';
import { proveStoreFixture } from '../fixtures/proof.ts';

const K56 = '6.1.0-56-amd64';
const K47 = '6.1.0-47-amd64';
let tmp = '';
let site = '';
let gpg: GpgHome;
let server: http.Server;
let url = '';
const seen = { connections: 0, requests: [] as string[] };

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-publish-downloads-'));
  const store = path.join(tmp, 'store');
  site = path.join(tmp, 'site');
  await putModule(store, K56);
  await putModule(store, K47);
  await proveStoreFixture(store, (k) => k === K56);
  gpg = await gpgHome();
  server = http.createServer(async (req, res) => {
    const rel = new URL(req.url ?? '/', 'http://x').pathname;
    seen.requests.push(rel);
    const file = path.join(site, path.normalize(decodeURIComponent(rel)));
    const data = file.startsWith(site + path.sep) ? await fs.readFile(file).catch(() => undefined) : undefined;
    if (data) res.writeHead(200, { 'content-length': data.length }).end(data);
    else res.writeHead(404).end();
  });
  server.on('connection', () => seen.connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const r = await cli(['publish', '--store', store, '--to', `dir:${site}`, '--gpg-key', gpg.fingerprint, '--url', url], gpg.env);
  assert.is(r.code, 0, r.stderr + r.stdout);
});

test.after(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  for (const d of [tmp, gpg?.home]) if (d) await fs.rm(d, { recursive: true, force: true });
});

/** install.sh (read from the tree) under dash, saving only; what the server saw during it. Spawned, not
 * spawnSync: the server answers from this process's event loop. */
async function install(name: string, env: NodeJS.ProcessEnv = {}, kernel = K56) {
  seen.connections = 0;
  seen.requests = [];
  const dl = path.join(tmp, `dl-${name}`);
  const c = spawn('dash', [path.join(site, 'install.sh'), '--download-only', dl, '--kernel', kernel], {
    env: { ...process.env, NBDFORGE_STATE_DIR: path.join(tmp, `state-${name}`), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const timer = setTimeout(() => c.kill('SIGKILL'), 90_000);
  let out = '';
  c.stdout.on('data', (b) => (out += b));
  c.stderr.on('data', (b) => (out += b));
  const code = await new Promise<number | null>((r) => c.on('close', r));
  clearTimeout(timer);
  return { code, out, dl, connections: seen.connections, requests: [...seen.requests] };
}

test('curl: one run on one connection for index.json, its signature and the kernels/<release>/ module, plan and proof; everything still checked', async () => {
  const r = await install('curl');
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /signature verified/);
  assert.match(r.out, new RegExp(`kernels/${K56}/nbd\\.ko: \\d+ bytes, sha256 and vermagic ".*" match the index`));
  assert.match(r.out, /proven in 6\.1\.0-56-amd64 on /);
  assert.not.match(r.out, /downloading by the index's paths/);
  assert.equal(r.requests, ['/index.json', '/index.json.sig', `/kernels/${K56}/nbd.ko`, `/kernels/${K56}/prepare-host.sh`, `/kernels/${K56}/proof.json`]);
  assert.is(r.connections, 1, `${r.connections} connections for ${r.requests.join(', ')}`);
  for (const f of ['nbd.ko', 'proof.json', 'prepare-host.sh']) assert.ok((await fs.stat(path.join(r.dl, f))).size > 0, f);
});

test('curl, an unproven kernel: the same one run; its missing proof.json (a 404, asked last) fails nothing', async () => {
  const r = await install('curl-unproven', {}, K47);
  assert.is(r.code, 0, r.out);
  assert.equal(r.requests, ['/index.json', '/index.json.sig', `/kernels/${K47}/nbd.ko`, `/kernels/${K47}/prepare-host.sh`, `/kernels/${K47}/proof.json`]);
  assert.is(r.connections, 1, `${r.connections} connections for ${r.requests.join(', ')}`);
  assert.match(r.out, /not proven in its own kernel/);
  assert.not.match(r.out, /404|downloading by the index's paths/);
  assert.equal((await fs.readdir(r.dl)).sort(), ['nbd.ko', 'prepare-host.sh']);
  // and --require-proof still refuses it before the module is used
  const q = await install('curl-require', { NBDFORGE_REQUIRE_PROOF: '1' }, K47);
  assert.is(q.code, 3, q.out);
  assert.match(q.out, /is not proven in its own kernel .* and --require-proof is set/);
  assert.not.ok(await fs.access(q.dl).then(() => true, () => false), 'nothing saved');
});

test('wget: the same five files, one run (and connection) each', async () => {
  const r = await install('wget', { NBDFORGE_DOWNLOADER: 'wget' });
  assert.is(r.code, 0, r.out);
  assert.equal(r.requests.map((p) => path.basename(p)), ['index.json', 'index.json.sig', 'nbd.ko', 'proof.json', 'prepare-host.sh']);
  assert.ok(r.requests.slice(2).every((p) => p.startsWith('/debian12/')), `by the index's paths: ${r.requests.join(', ')}`);
  assert.is(r.connections, 5);
});

test.run();
