import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseManifest, allChecksPassed, ManifestError, type Manifest } from '../../src/artifacts/manifest.ts';

const hex = (c: string) => c.repeat(64);

function valid(): Manifest {
  return {
    schema: 1,
    key: hex('a'),
    family: 'debian12',
    kernelRelease: '6.1.0-56-amd64',
    module: 'nbd',
    file: 'nbd.ko',
    debugFile: 'nbd.ko.debug',
    sha256: hex('b'),
    size: 41234,
    debugSha256: hex('c'),
    vermagic: '6.1.0-56-amd64 SMP preempt mod_unload modversions ',
    checks: [
      { name: 'vermagic', ok: true, detail: 'matches' },
      { name: 'crcs', ok: true, detail: '61 imported symbols, all CRCs match Module.symvers' },
    ],
    inputs: { 'linux-source-6.1': hex('d'), recipe: hex('e') },
    builderImage: 'sha256:' + hex('f'),
    compiler: 'gcc-12 (Debian 12.2.0-14) 12.2.0',
    durationMs: 53210,
    tool: { name: 'nbdforge', version: '0.1.0' },
    createdAt: '2025-01-02T03:04:05.000Z',
  };
}

/** Expect parseManifest to throw a ManifestError whose message names `field`. */
function rejects(mutate: (m: Record<string, unknown>) => void, field: string) {
  const m = valid() as unknown as Record<string, unknown>;
  mutate(m);
  let caught: unknown;
  try {
    parseManifest(JSON.parse(JSON.stringify(m)), 'store/x/manifest.json');
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ManifestError, `expected ManifestError for ${field}, got ${String(caught)}`);
  const msg = (caught as Error).message;
  assert.ok(msg.includes(`field "${field}"`), `message should name ${field}: ${msg}`);
  assert.ok(msg.startsWith('store/x/manifest.json:'), msg);
  assert.is((caught as Error).name, 'ManifestError');
}

test('a valid manifest passes and comes back unchanged', () => {
  const m = valid();
  const parsed = parseManifest(JSON.parse(JSON.stringify(m)));
  assert.equal(parsed, m);
  assert.is(allChecksPassed(parsed), true);
});

test('non-objects are rejected', () => {
  for (const v of [null, 42, 'manifest', [valid()]]) {
    assert.throws(() => parseManifest(v), (e: Error) => e instanceof ManifestError && /field "\(root\)"/.test(e.message));
  }
});

test('wrong schema', () => {
  rejects((m) => (m.schema = 2), 'schema');
  rejects((m) => (m.schema = '1'), 'schema');
  rejects((m) => delete m.schema, 'schema');
});

test('missing or empty kernelRelease', () => {
  rejects((m) => delete m.kernelRelease, 'kernelRelease');
  rejects((m) => (m.kernelRelease = ''), 'kernelRelease');
  rejects((m) => (m.kernelRelease = 610), 'kernelRelease');
});

test('bad sha256 / key / debugSha256 (not 64 lowercase hex)', () => {
  rejects((m) => (m.sha256 = hex('a').slice(1)), 'sha256');
  rejects((m) => (m.sha256 = hex('a') + 'a'), 'sha256');
  rejects((m) => (m.sha256 = hex('g')), 'sha256');
  rejects((m) => (m.sha256 = hex('A')), 'sha256');
  rejects((m) => (m.key = 'sha256:' + hex('a')), 'key');
  rejects((m) => delete m.debugSha256, 'debugSha256');
});

test('negative or non-numeric size', () => {
  rejects((m) => (m.size = -1), 'size');
  rejects((m) => (m.size = '41234'), 'size');
  rejects((m) => (m.durationMs = -5), 'durationMs');
  // size 0 is allowed (non-negative)
  assert.is(parseManifest({ ...valid(), size: 0 }).size, 0);
});

test('checks: empty, not an array, or a malformed check', () => {
  rejects((m) => (m.checks = []), 'checks');
  rejects((m) => (m.checks = { name: 'vermagic', ok: true, detail: '' }), 'checks');
  rejects((m) => ((m.checks as Array<Record<string, unknown>>)[1].ok = 'true'), 'checks[1]');
  rejects((m) => ((m.checks as Array<Record<string, unknown>>)[0].ok = 1), 'checks[0]');
  rejects((m) => delete (m.checks as Array<Record<string, unknown>>)[0].detail, 'checks[0]');
  rejects((m) => ((m.checks as unknown[])[1] = null), 'checks[1]');
});

test('inputs: a value that is not a digest is named with its key', () => {
  rejects((m) => ((m.inputs as Record<string, unknown>)['linux-source-6.1'] = 'deadbeef'), 'inputs.linux-source-6.1');
  rejects((m) => ((m.inputs as Record<string, unknown>).recipe = 7), 'inputs.recipe');
  rejects((m) => (m.inputs = [hex('a')]), 'inputs');
  rejects((m) => (m.inputs = null), 'inputs');
  // an empty inputs object is valid
  assert.equal(parseManifest({ ...valid(), inputs: {} }).inputs, {});
});

test('file names must be bare names', () => {
  rejects((m) => (m.file = 'sub/nbd.ko'), 'file');
  rejects((m) => (m.file = '/tmp/nbd.ko'), 'file');
  rejects((m) => (m.debugFile = '../nbd.ko.debug'), 'debugFile');
  rejects((m) => (m.file = 'manifest.json'), 'file');
  rejects((m) => (m.debugFile = '..'), 'debugFile');
  rejects((m) => (m.debugFile = m.file), 'debugFile');
});

test('tool must be {name: "nbdforge", version}', () => {
  rejects((m) => (m.tool = { name: 'othertool', version: '0.1.0' }), 'tool');
  rejects((m) => (m.tool = { name: 'nbdforge' }), 'tool');
  rejects((m) => delete m.tool, 'tool');
});

test('other required strings', () => {
  for (const f of ['family', 'module', 'file', 'debugFile', 'vermagic', 'builderImage', 'compiler', 'createdAt']) rejects((m) => delete m[f], f);
});

const signature = () => ({
  format: 'pkcs7',
  hash: 'sha256',
  keyAlgorithm: 'rsa',
  signer: { subject: 'O=nbdforge test, CN=alpha', fingerprint: hex('1') },
  certificate: 'MIIBszCCAVmgAwIBAgIU',
  unsignedSha256: hex('2'),
});

test('signature: optional; when present every field is checked', () => {
  assert.is(parseManifest(valid()).signature, undefined);
  const m = { ...valid(), signature: signature() };
  assert.equal(parseManifest(JSON.parse(JSON.stringify(m))), m);
  const bad = (mutate: (s: Record<string, unknown>) => void, field: string) => rejects((x) => {
    x.signature = signature();
    mutate(x.signature as Record<string, unknown>);
  }, field);
  rejects((x) => (x.signature = 'signed'), 'signature');
  bad((s) => (s.format = 'pgp'), 'signature.format');
  bad((s) => (s.hash = 'sha256; rm -rf /'), 'signature.hash');
  bad((s) => delete s.keyAlgorithm, 'signature.keyAlgorithm');
  bad((s) => (s.signer = { subject: 'x', fingerprint: 'AB:CD' }), 'signature.signer');
  bad((s) => (s.signer = null), 'signature.signer');
  bad((s) => (s.certificate = '-----BEGIN CERTIFICATE-----'), 'signature.certificate');
  bad((s) => (s.unsignedSha256 = hex('x')), 'signature.unsignedSha256');
});

test('allChecksPassed', () => {
  assert.is(allChecksPassed(valid()), true);
  assert.is(allChecksPassed({ checks: [{ name: 'vermagic', ok: true, detail: '' }, { name: 'crcs', ok: false, detail: '1 of 61' }] }), false);
  assert.is(allChecksPassed({ checks: [{ name: 'oracle', ok: false, detail: '' }] }), false);
  assert.is(allChecksPassed({ checks: [] }), false);
});

test.run();
