/** The oci target's pure parts: references, redaction, deterministic layers, YAML and the KMM resource. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { baseUrl, isLoopback, parseReference } from '../../src/publish/oci/reference.ts';
import { redact } from '../../src/publish/oci/errors.ts';
import { credentialsFor, parseChallenge } from '../../src/publish/oci/auth.ts';
import { buildLayer } from '../../src/publish/oci/layer.ts';
import { fileInTar, layerTar } from '../../src/publish/oci/read-image.ts';
import { toYaml } from '../../src/publish/oci/yaml.ts';
import { kmmModule } from '../../src/publish/oci/kmm.ts';
import { tagFor } from '../../src/publish/oci/image.ts';
import { findBusybox, programHeaders } from '../../src/publish/oci/contents.ts';
import { DigestCache } from '../../src/publish/oci/digest-cache.ts';
import { moduleSchema, validate, validateObjectMeta } from '../fixtures/kmm/structural-schema.ts';

const crd = parseYaml(await fs.readFile(new URL('../fixtures/kmm/modules-crd.yaml', import.meta.url), 'utf8'));
const schema = moduleSchema(crd);

test('references: host, port, repository, tag and digest; http only for loopback', () => {
  const r = parseReference('oci://127.0.0.1:5000/team/nbd:6.1.0-56-amd64', { allowTag: true });
  assert.equal([r.registry, r.host, r.repository, r.tag], ['127.0.0.1:5000', '127.0.0.1', 'team/nbd', '6.1.0-56-amd64']);
  assert.is(baseUrl(r), 'http://127.0.0.1:5000');
  const remote = parseReference('registry.example.org/nbd', { allowTag: false });
  assert.is(baseUrl(remote), 'https://registry.example.org');
  assert.is(baseUrl(remote, true), 'http://registry.example.org');
  const d = parseReference(`oci://[::1]:5000/nbd@sha256:${'a'.repeat(64)}`, { allowTag: true });
  assert.is(d.digest, `sha256:${'a'.repeat(64)}`);
  assert.ok(isLoopback(d.host) && isLoopback('localhost') && isLoopback('127.3.4.5'));
  assert.not.ok(isLoopback('10.0.0.1') || isLoopback('127.example.org'));
});

test('references: bad input is refused with the expected form', () => {
  assert.throws(() => parseReference('oci://127.0.0.1:5000', { allowTag: false }), /no repository/);
  assert.throws(() => parseReference('oci://127.0.0.1:5000/NBD', { allowTag: false }), /not a valid repository/);
  assert.throws(() => parseReference('oci://127.0.0.1:5000/nbd:v1', { allowTag: false }), /no tag here/);
  assert.throws(() => parseReference('oci://127.0.0.1:5000/nbd', { allowTag: true, requireTag: true }), /REPO:TAG/);
  assert.throws(() => parseReference('oci://user:secret@127.0.0.1/nbd', { allowTag: false }), /credentials do not belong/);
  assert.throws(() => parseReference('oci://h:99999/nbd', { allowTag: false }), /HOST\[:PORT\]/);
  assert.throws(() => parseReference('oci://h/nbd:6.12.1+deb12-amd64', { allowTag: true }), /not a valid tag/);
  assert.is(tagFor('6.12.107+deb12-amd64'), '6.12.107_deb12-amd64');
});

test('redaction: userinfo, Authorization values, tokens and known secrets', () => {
  const s = redact('GET http://u:pw@h/v2/ authorization: Basic dTpwdw== {"token":"abc.def"} hunter22', ['hunter22']);
  assert.not.match(s, /pw@|dTpwdw|abc\.def|hunter22/);
  assert.match(s, /\*\*\*@h/);
});

test('auth: challenges parsed; credentials from the docker config, env first', async () => {
  const ch = parseChallenge('Bearer realm="https://auth.example/token",service="registry",scope="repository:nbd:pull"');
  assert.equal(ch, { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry', scope: 'repository:nbd:pull' } });
  assert.is(parseChallenge('Basic realm="x"')!.scheme, 'basic');
  assert.is(parseChallenge('Negotiate'), undefined);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-dcfg-'));
  await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify({ auths: { '127.0.0.1:5000': { auth: Buffer.from('alice:s3:cret').toString('base64') } } }));
  const c = credentialsFor('127.0.0.1:5000', { DOCKER_CONFIG: dir });
  assert.equal([c?.username, c?.password], ['alice', 's3:cret']);
  assert.is(credentialsFor('127.0.0.1:5001', { DOCKER_CONFIG: dir }), undefined);
  const e = credentialsFor('127.0.0.1:5000', { DOCKER_CONFIG: dir, NBDFORGE_REGISTRY_USERNAME: 'bob', NBDFORGE_REGISTRY_PASSWORD: 'x' });
  assert.is(e?.username, 'bob');
  await fs.rm(dir, { recursive: true });
});

test('layers: the same files give the same digest; parents first; bytes come back out', async () => {
  const files = [
    { path: 'opt/lib/modules/6.1.0-1-amd64/extra/nbd.ko', type: 'file' as const, data: Buffer.from('module bytes') },
    { path: 'bin/sh', type: 'symlink' as const, target: 'busybox' },
  ];
  const a = await buildLayer(files);
  const b = await buildLayer([...files].reverse());
  assert.is(a.digest, b.digest);
  assert.is(a.diffId, b.diffId);
  const tarBytes = layerTar(a.blob, a.mediaType, a.diffId, 'test');
  assert.equal(await fileInTar(tarBytes, '/opt/lib/modules/6.1.0-1-amd64/extra/nbd.ko'), Buffer.from('module bytes'));
  assert.is(await fileInTar(tarBytes, 'bin/sh'), undefined, 'a symlink is not a file');
  const names = [...gunzipSync(a.blob).toString('latin1').matchAll(/(opt[\w./-]*|bin[\w./-]*)\0/g)].map((m) => m[1]);
  assert.ok(names.indexOf('opt/') < names.indexOf('opt/lib/modules/6.1.0-1-amd64/extra/nbd.ko'));
  assert.throws(() => layerTar(a.blob, a.mediaType, `sha256:${'0'.repeat(64)}`, 'test'), /diff_id/);
  const err = await buildLayer([{ path: '../etc/passwd', type: 'file', data: Buffer.alloc(1) }]).catch((e: Error) => e);
  assert.match(String(err), /bad layer path/);
});

test('yaml: what we write, a real YAML parser reads back as the same value', () => {
  const v = { a: 'plain', b: '${KERNEL_FULL_VERSION}', c: '6.1.0-56-amd64', d: 'true', e: ['x', { f: 'y: z', g: '' }], h: {}, 'k/e.y': '#x', n: 3, t: false };
  assert.equal(parseYaml(toYaml(v)), v);
});

const image = parseReference('127.0.0.1:5000/nbd', { allowTag: false });
test('KMM Module: validates against KMM v1beta1 CRD schema (fixture), template image, literal mappings', () => {
  const m = kmmModule({ image, name: 'nbd', namespace: 'kmm', module: 'nbd', kernels: ['6.1.0-47-amd64', '6.12.107+deb12-amd64'], selector: { 'kubernetes.io/os': 'linux' } });
  const round = parseYaml(toYaml(m));
  assert.equal(validate(round, schema), []);
  assert.equal(validateObjectMeta(round.metadata), []);
  assert.equal([round.apiVersion, round.kind], [`${crd.spec.group}/v1beta1`, crd.spec.names.kind]);
  const maps = round.spec.moduleLoader.container.kernelMappings;
  assert.equal(maps[0], { literal: '6.1.0-47-amd64', containerImage: '127.0.0.1:5000/nbd:${KERNEL_FULL_VERSION}' });
  assert.equal(maps[1], { literal: '6.12.107+deb12-amd64', containerImage: '127.0.0.1:5000/nbd:6.12.107_deb12-amd64' });
  assert.is(round.spec.moduleLoader.container.modprobe.moduleName, 'nbd');
  assert.equal(round.spec.moduleLoader.container.registryTLS, { insecure: true });
  const remote = kmmModule({ image: parseReference('reg.example/nbd', { allowTag: false }), name: 'nbd', module: 'nbd', kernels: ['k'], selector: {} });
  assert.not.ok('registryTLS' in (remote as any).spec.moduleLoader.container);
});

test('the schema check has teeth: missing selector, empty mappings, unknown and mistyped fields fail', () => {
  const good = kmmModule({ image, name: 'nbd', module: 'nbd', kernels: ['k'], selector: { a: 'b' } }) as any;
  const copy = () => JSON.parse(JSON.stringify(good));
  const noSel = copy();
  delete noSel.spec.selector;
  assert.match(validate(noSel, schema).join(), /missing required field "selector"/);
  const empty = copy();
  empty.spec.moduleLoader.container.kernelMappings = [];
  assert.match(validate(empty, schema).join(), /at least 1/);
  const unknown = copy();
  unknown.spec.moduleLoader.container.kernelMapping = [];
  assert.match(validate(unknown, schema).join(), /unknown field "kernelMapping"/);
  const typed = copy();
  typed.spec.selector = { a: 1 };
  assert.match(validate(typed, schema).join(), /\$\.spec\.selector\.a: must be a string/);
});

test('busybox: the host static one is accepted; a dynamic executable is refused with the fix', async () => {
  const bb = await findBusybox({});
  assert.is(bb.machine, 62);
  assert.is(programHeaders(bb.data, bb.path).dynamic, false);
  try {
    await findBusybox({ NBDFORGE_BUSYBOX: '/bin/ls' });
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /dynamically linked; install busybox-static/);
  }
});

test('digest cache: survives a restart, ignores a corrupt file, keeps only well-formed entries', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-dcache-'));
  const a = DigestCache.in(dir);
  assert.is(await a.get('k'), undefined);
  await a.set('k', { image: 'sha256:1', proof: 'sha256:2' });
  assert.equal(await DigestCache.in(dir).get('k'), { image: 'sha256:1', proof: 'sha256:2' });
  const file = path.join(dir, 'oci', 'digests.json');
  await fs.writeFile(file, '{"k": {"image": 3}, "j": {"image": "a", "proof": "b"}}');
  const b = DigestCache.in(dir);
  assert.is(await b.get('k'), undefined);
  assert.equal(await b.get('j'), { image: 'a', proof: 'b' });
  await fs.writeFile(file, 'not json');
  assert.is(await DigestCache.in(dir).get('j'), undefined);
  await fs.rm(dir, { recursive: true });
});

test.run();
