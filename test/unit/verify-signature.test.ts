/**
 * Module signatures made by the real kbuild scripts/sign-file (linux-kbuild-6.1, installed by
 * `scripts/setup-host.ts --with sign`) with throwaway keys openssl makes here, then verified by the
 * TypeScript reader: good ones pass, tampered ones fail with a reason.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { buildModule } from './fixtures-elf.ts';
import { readSigningCert, CertificateError } from '../../src/verify/certificate.ts';
import { verifyModuleSignature, checkSignature, SignatureError } from '../../src/verify/signature.ts';
import { hasAppendedSignature, splitSignature, MODULE_SIG_STRING } from '../../src/verify/module-signature.ts';

export const SIGN_FILE = '/usr/lib/linux-kbuild-6.1/scripts/sign-file';
assert.ok(fs.existsSync(SIGN_FILE), `${SIGN_FILE} is missing: run npx tsx scripts/setup-host.ts --with sign`);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-sig-'));
const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });

/** A key pair and self-signed certificate as docs/signing.md makes them. */
function makeKey(name: string, extra: string[] = []): { key: string; cert: string } {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  run('openssl', ['req', '-new', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '3650', '-subj', `/O=nbdforge test/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=digitalSignature', '-addext', 'subjectKeyIdentifier=hash', ...extra,
    '-keyout', key, '-out', cert]);
  return { key, cert };
}

const mod = buildModule({ vermagic: '6.1.0-56-amd64 SMP preempt mod_unload modversions ' }, 'signme');
const unsigned = new Uint8Array(mod.bytes);
fs.writeFileSync(path.join(dir, 'm.ko'), unsigned);
const a = makeKey('alpha');
const b = makeKey('beta');
const certA = readSigningCert(fs.readFileSync(a.cert), a.cert);
const certB = readSigningCert(fs.readFileSync(b.cert), b.cert);

function signed(opts: { hash?: string; keyid?: boolean; key?: typeof a } = {}): Uint8Array {
  const k = opts.key ?? a;
  const out = path.join(dir, `s-${Math.random().toString(36).slice(2)}.ko`);
  run(SIGN_FILE, [...(opts.keyid ? ['-k'] : []), opts.hash ?? 'sha256', k.key, k.cert, path.join(dir, 'm.ko'), out]);
  return new Uint8Array(fs.readFileSync(out));
}

test('the real sign-file output verifies: PKCS#7, sha256, rsa, over exactly the unsigned bytes', () => {
  const s = signed();
  assert.ok(hasAppendedSignature(s));
  assert.not.ok(hasAppendedSignature(unsigned));
  const info = verifyModuleSignature(s, certA);
  assert.equal([info.format, info.hash, info.keyAlgorithm], ['pkcs7', 'sha256', 'rsa']);
  assert.ok(Buffer.from(info.content).equals(Buffer.from(unsigned)));
  const c = checkSignature(s, unsigned, certA);
  assert.ok(c.ok, c.detail);
  assert.match(c.detail, certA.fingerprint);
});

test('sign-file -k (signer named by subjectKeyIdentifier) and sha512 verify too', () => {
  assert.is(verifyModuleSignature(signed({ keyid: true }), certA).hash, 'sha256');
  assert.is(verifyModuleSignature(signed({ hash: 'sha512' }), certA).hash, 'sha512');
});

test('the certificate: subject, sha256 fingerprint as openssl prints it, PEM and DER alike', () => {
  const fp = run('openssl', ['x509', '-in', a.cert, '-noout', '-fingerprint', '-sha256']).toString().split('=')[1].trim().replace(/:/g, '').toLowerCase();
  assert.is(certA.fingerprint, fp);
  assert.match(certA.subject, 'CN=alpha');
  const der = run('openssl', ['x509', '-in', a.cert, '-outform', 'DER']);
  assert.is(readSigningCert(der, 'der').fingerprint, fp);
  assert.throws(() => readSigningCert(Buffer.from('not a cert'), 'junk.pem'), (e: Error) => e instanceof CertificateError && /junk\.pem/.test(e.message));
});

test('tampered module: one flipped byte in the signed content fails', () => {
  const s = signed();
  s[200] ^= 1;
  assert.throws(() => verifyModuleSignature(s, certA), (e: Error) => e instanceof SignatureError && /does not verify/.test(e.message));
  const c = checkSignature(s, unsigned, certA);
  assert.not.ok(c.ok);
});

test('tampered signature value fails; so does another key\'s certificate', () => {
  const s = signed();
  const sigAt = s.length - MODULE_SIG_STRING.length - 12 - 10;
  s[sigAt] ^= 0x40;
  assert.throws(() => verifyModuleSignature(s, certA), /does not verify/);
  assert.throws(() => verifyModuleSignature(signed(), certB), /not by the certificate .*CN=beta/);
  assert.throws(() => verifyModuleSignature(signed({ keyid: true }), certB), /not by the certificate/);
});

test('a valid signature over other bytes than the verified module is not accepted', () => {
  const other = new Uint8Array(unsigned);
  other[100] ^= 1;
  fs.writeFileSync(path.join(dir, 'm.ko'), other);
  const s = signed();
  fs.writeFileSync(path.join(dir, 'm.ko'), unsigned);
  assert.ok(verifyModuleSignature(s, certA));
  const c = checkSignature(s, unsigned, certA);
  assert.not.ok(c.ok);
  assert.match(c.detail, /differ from the verified unsigned module/);
});

test('unsigned and malformed: no signature, lengths past the file, wrong id_type', () => {
  assert.is(splitSignature(unsigned), undefined);
  assert.throws(() => verifyModuleSignature(unsigned, certA), /carries no appended signature/);
  const s = signed();
  const info = s.length - MODULE_SIG_STRING.length - 12;
  const huge = new Uint8Array(s);
  new DataView(huge.buffer).setUint32(info + 8, 0xffffff00, false);
  assert.throws(() => verifyModuleSignature(huge, certA), /malformed signature: .*exceed the module/);
  const pgp = new Uint8Array(s);
  pgp[info + 2] = 0;
  assert.throws(() => verifyModuleSignature(pgp, certA), /id_type 0/);
  const short = new Uint8Array(s);
  new DataView(short.buffer).setUint32(info + 8, 40, false);
  assert.throws(() => verifyModuleSignature(short, certA), (e: Error) => e instanceof SignatureError);
  assert.throws(() => verifyModuleSignature(Buffer.from(MODULE_SIG_STRING), certA), /malformed/);
});

test('PKCS#7 with signed attributes (openssl cms, not sign-file): the messageDigest path', () => {
  const p7 = path.join(dir, 'attr.p7');
  run('openssl', ['cms', '-sign', '-binary', '-noverify', '-nocerts', '-outform', 'DER', '-md', 'sha256', '-signer', a.cert, '-inkey', a.key, '-in', path.join(dir, 'm.ko'), '-out', p7]);
  const der = fs.readFileSync(p7);
  const info = Buffer.alloc(12);
  info[2] = 2;
  info.writeUInt32BE(der.length, 8);
  const s = Buffer.concat([unsigned, der, info, Buffer.from(MODULE_SIG_STRING)]);
  assert.is(verifyModuleSignature(s, certA).format, 'pkcs7');
  s[10] ^= 1;
  assert.throws(() => verifyModuleSignature(s, certA), /messageDigest does not match/);
});

test('the 3.x X.509 format (assembled here as the old sign-file lays it out, RSA signature by openssl)', () => {
  const raw = run('openssl', ['dgst', '-sha256', '-sign', a.key, path.join(dir, 'm.ko')]);
  const signer = Buffer.from('alpha');
  const mpi = Buffer.concat([Buffer.from([(raw.length * 8) >> 8, (raw.length * 8) & 0xff]), raw]);
  const info = Buffer.from([1, 4, 1, signer.length, certA.subjectKeyId!.length, 0, 0, 0, 0, 0, 0, 0]);
  info.writeUInt32BE(mpi.length, 8);
  const s = Buffer.concat([unsigned, signer, certA.subjectKeyId!, mpi, info, Buffer.from(MODULE_SIG_STRING)]);
  const v = verifyModuleSignature(s, certA);
  assert.equal([v.format, v.hash], ['x509', 'sha256']);
  assert.ok(Buffer.from(v.content).equals(Buffer.from(unsigned)));
  assert.throws(() => verifyModuleSignature(s, certB), /key id/);
  s[s.length - MODULE_SIG_STRING.length - 12 - 5] ^= 1;
  assert.throws(() => verifyModuleSignature(s, certA), /does not verify/);
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
test.run();
