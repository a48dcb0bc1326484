/** --sign-key/--sign-cert checked at the edge: real openssl-made keys, each wrong pairing refused with the file named. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { loadSigner, signHashFromConfig, SignerError } from '../../src/builder/signer.ts';
import { CertificateError } from '../../src/verify/certificate.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-signer-'));
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
const pair = (name: string, alg: string[]) => {
  openssl('req', '-new', '-x509', ...alg, '-nodes', '-days', '30', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.crt`);
  return { key: path.join(dir, `${name}.key`), cert: path.join(dir, `${name}.crt`) };
};
const a = pair('a', ['-newkey', 'rsa:2048']);
const b = pair('b', ['-newkey', 'rsa:2048']);
const ed = pair('ed', ['-newkey', 'ed25519']);

async function refuses(p: Promise<unknown>, re: RegExp) {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof SignerError || err instanceof CertificateError, String(err));
    assert.match((err as Error).message, re);
    return;
  }
  assert.unreachable('expected a refusal');
}

test('a matching pair loads: absolute key path, subject and fingerprint', async () => {
  const s = await loadSigner(path.relative(process.cwd(), a.key), a.cert);
  assert.is(s.keyPath, a.key);
  assert.match(s.cert.subject, 'CN=a');
  assert.match(s.cert.fingerprint, /^[0-9a-f]{64}$/);
});

test('refusals name the file and the fix', async () => {
  await refuses(loadSigner(b.key, a.cert), /b\.key is not the private key of .*a\.crt \(CN=a\)/);
  await refuses(loadSigner(path.join(dir, 'none.key'), a.cert), /none\.key is not a readable file/);
  await refuses(loadSigner(a.key, a.key), /a\.key: not an X\.509 certificate/);
  openssl('rsa', '-in', a.key, '-aes256', '-passout', 'pass:x', '-out', 'enc.key');
  await refuses(loadSigner(path.join(dir, 'enc.key'), a.cert), /enc\.key: not an unencrypted PEM private key/);
  await refuses(loadSigner(ed.key, ed.cert), /ed25519 keys cannot sign kernel modules/);
  fs.copyFileSync(a.key, path.join(dir, 'with:colon.key'));
  await refuses(loadSigner(path.join(dir, 'with:colon.key'), a.cert), /contains ':'/);
});

test('the signing hash follows the kernel config', () => {
  assert.is(signHashFromConfig('CONFIG_MODULE_SIG=y\nCONFIG_MODULE_SIG_HASH="sha512"\n'), 'sha512');
  assert.is(signHashFromConfig('# no signing config\n'), 'sha256');
  assert.throws(() => signHashFromConfig('CONFIG_MODULE_SIG_HASH="md5"\n'), /"md5"/);
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
test.run();
