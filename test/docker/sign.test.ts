/**
 * Signing in the debian12 pipeline, against a real Docker engine and real Debian packages: the
 * newest kernel is built, verified, then signed by linux-kbuild-6.1's own sign-file in its own
 * container, with throwaway keys openssl makes here. openssl (an independent PKCS#7 implementation)
 * confirms the signature; the key is never found in the store or the cache.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { $ } from 'zx';
import { main } from '../../src/cli.ts';
import { LABEL } from '../../src/docker/engine.ts';
import { buildOne } from '../../src/builder/build-one.ts';
import { loadSigner } from '../../src/builder/signer.ts';
import { splitSignature } from '../../src/verify/module-signature.ts';
import { sha256File, sha256 } from '../../src/util/hash.ts';
import { debian12Setup } from './debian12-setup.ts';
import { headersKey } from '../../src/families/debian12/derived.ts';

const q = $({ quiet: true });
const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-sign-'));
const storeDir = path.join(dir, 'store');
const { paths, docker, family, ctx, store, nbd, kernels } = await debian12Setup(storeDir);
const krel = kernels[kernels.length - 1].kernelRelease;
// before any key exists: every file written (or copied, even with its times kept) from here on has a later ctime
const marker = path.join(dir, 'start');
await fs.writeFile(marker, '');
await new Promise((r) => setTimeout(r, 20));

async function keyPair(name: string): Promise<{ key: string; cert: string }> {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  await q`openssl req -new -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj ${`/CN=${name}`} -addext subjectKeyIdentifier=hash -keyout ${key} -out ${cert}`;
  return { key, cert };
}
const a = await keyPair('nbdforge-test-alpha');
const b = await keyPair('nbdforge-test-beta');
const keySum = await sha256File(a.key);
const base = { family, module: nbd, store, toolVersion: 'test', kernelRelease: krel, oracle: false };

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write: (c, _e, cb) => (f(String(c)), cb()) }) as unknown as NodeJS.WriteStream;
  const code = await main(args, { env: { ...process.env, NBDFORGE_STORE: storeDir }, stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) });
  return { code, out, err };
}

test.after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

let signedKey = '';
test(`build ${krel} signed: every check, then a signature openssl confirms over the verified bytes`, async () => {
  const r = await buildOne(ctx, { ...base, signer: await loadSigner(a.key, a.cert), force: true });
  assert.is(r.status, 'built');
  signedKey = r.key;
  assert.equal(r.manifest.checks.map((c) => c.name), ['vermagic', 'crcs', 'signature']);
  for (const c of r.manifest.checks) assert.ok(c.ok, `${c.name}: ${c.detail}`);
  const s = r.manifest.signature!;
  const fp = (await q`openssl x509 -in ${a.cert} -noout -fingerprint -sha256`).stdout.split('=')[1].trim().replace(/:/g, '').toLowerCase();
  assert.equal([s.format, s.hash, s.keyAlgorithm, s.signer.fingerprint], ['pkcs7', 'sha256', 'rsa', fp]);
  assert.match(s.signer.subject, 'CN=nbdforge-test-alpha');

  const file = store.artifactPath(r.artifact);
  const bytes = await fs.readFile(file);
  assert.is(sha256(bytes), r.manifest.sha256);
  const parts = splitSignature(bytes)!;
  assert.is(sha256(parts.content), s.unsignedSha256);
  // Independent check: openssl verifies the detached PKCS#7 over the module without its signature.
  await fs.writeFile(path.join(dir, 'content.ko'), parts.content);
  await fs.writeFile(path.join(dir, 'sig.p7'), parts.data);
  const v = await q`openssl smime -verify -binary -inform DER -in ${path.join(dir, 'sig.p7')} -content ${path.join(dir, 'content.ko')} -certfile ${a.cert} -nointern -noverify -out /dev/null`.nothrow();
  assert.is(v.exitCode, 0, v.stderr);
  assert.match(v.stderr, /Verification successful/);
  // kmod reads it as the kernel will.
  const mi = (await q`modinfo ${file}`).stdout;
  assert.match(mi, /sig_id:\s+PKCS#7/);
  assert.match(mi, /signer:\s+nbdforge-test-alpha/);
  // Only this process's containers: other builds may share the engine.
  assert.is((await docker.listContainers({ all: true, filters: { label: [`${LABEL}.pid=${process.pid}`] } })).length, 0, 'no container left');
});

test('the private key is unchanged and appears nowhere in the store or the cache', async () => {
  assert.is(await sha256File(a.key), keySum);
  const line = (await fs.readFile(a.key, 'utf8')).split('\n')[1];
  assert.ok(line.length > 40);
  // what this run wrote (a file written or copied has a ctime after the marker) into the store and the
  // cache, where the build's container may write anywhere under derived/; other kernels' kbuild trees,
  // most of the cache's files, are not looked into (this build does not use them)
  const own = path.join(paths.cache, 'debian12', 'derived', `kbuild-${headersKey(kernels[kernels.length - 1])}`);
  const others = path.join(paths.cache, 'debian12', 'derived', 'kbuild-*');
  const notOthers = ['(', '-path', others, '!', '-path', own, '!', '-path', `${own}/*`, '-prune', ')'];
  const written = (await q`find ${storeDir} ${paths.cache} ${notOthers} -o -type f -cnewer ${marker} -print0`).stdout.split('\0').filter(Boolean);
  assert.ok(written.some((f) => f.startsWith(storeDir + path.sep) && f.endsWith('.ko')), `the signed module is among the files read: ${written.length} files`);
  const hits: string[] = [];
  for (const f of written) if ((await fs.readFile(f).catch(() => Buffer.alloc(0))).includes(line)) hits.push(f);
  assert.equal(hits, [], `key material found in: ${hits.join(' ')}`);
});

test('same inputs and certificate: a cache hit; another certificate: another key, built again', async () => {
  const again = await buildOne(ctx, { ...base, signer: await loadSigner(a.key, a.cert) });
  assert.is(again.status, 'cached');
  assert.is(again.key, signedKey);
  const other = await buildOne(ctx, { ...base, signer: await loadSigner(b.key, b.cert) });
  assert.is(other.status, 'built');
  assert.is.not(other.key, signedKey);
  assert.is(other.manifest.signature!.unsignedSha256, again.manifest.signature!.unsignedSha256, 'the same verified module under both keys');
  assert.is.not(other.manifest.sha256, again.manifest.sha256);
});

test('CLI: a key that is not the certificate\'s, or half a pair, is refused (exit 2) before any build', async () => {
  const before = JSON.stringify(await store.readIndex());
  const wrong = await cli(['build', '--kernel', krel, '--sign-key', b.key, '--sign-cert', a.cert]);
  assert.is(wrong.code, 2, wrong.err);
  assert.match(wrong.err, /is not the private key of/);
  const half = await cli(['build', '--kernel', krel, '--sign-key', a.key]);
  assert.is(half.code, 2);
  assert.match(half.err, /--sign-key and --sign-cert go together/);
  const missing = await cli(['matrix', '--kernels', krel, '--sign-key', path.join(dir, 'nope.key'), '--sign-cert', a.cert]);
  assert.is(missing.code, 2);
  assert.match(missing.err, /nope\.key is not a readable file/);
  assert.is(JSON.stringify(await store.readIndex()), before);
});

// The store keeps one artifact per kernel: the beta-signed build replaced the alpha one.
test('CLI: matrix --sign-key/--sign-cert --json reports the signer; a re-run is cached', async () => {
  const r = await cli(['matrix', '--kernels', krel, '--no-oracle', '--sign-key', b.key, '--sign-cert', b.cert, '--json']);
  assert.is(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.is(j.kernels[0].status, 'cached');
  assert.match(j.kernels[0].signature.subject, 'nbdforge-test-beta');
});

test.run();
