/**
 * Issue 16.6: kmm-module's YAML reads as it looks. Control characters (C0, DEL, C1 with NEL),
 * the Unicode line/paragraph separators, bidi controls and bytes that were not UTF-8 are refused in
 * every value with exit 2 (the probe: DEL or C1 in --kernels made YAML parsers reject the output);
 * a registry whose tag list or labels carry them is refused with exit 3; the YAML writer escapes them
 * on its own; valid values round-trip through a real YAML parser and the KMM CRD schema.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { parse as parseYaml, parseDocument } from 'yaml';
import { main } from '../../src/cli.ts';
import * as kmm from '../../src/publish/oci/kmm.ts';
import { toYaml } from '../../src/publish/oci/yaml.ts';
import { parseReference } from '../../src/publish/oci/reference.ts';
import { moduleSchema, validate } from '../fixtures/kmm/structural-schema.ts';

const cli = path.resolve('bin/nbdforge.js');
const schema = moduleSchema(parseYaml(await fs.readFile(new URL('../fixtures/kmm/modules-crd.yaml', import.meta.url), 'utf8')));

/** The CLI's own entry (what bin/nbdforge.js calls) in this process: a spawn costs seconds on a loaded machine. */
async function nbdforge(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ status: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const sink = (k: 'stdout' | 'stderr') => ({ write: (t: string) => ((out[k] += t), true) }) as unknown as NodeJS.WriteStream;
  const status = await main(args, { stdout: sink('stdout'), stderr: sink('stderr'), env });
  return { status, ...out };
}

const UNSEEN: Array<[string, string]> = [
  ['\u0001', 'U+0001'], ['\t', 'U+0009'], ['\n', 'U+000A'], ['\r', 'U+000D'], ['\u001b', 'U+001B'], ['\u007f', 'U+007F (DEL)'],
  ['\u0080', 'U+0080'], ['\u0085', 'U+0085 (NEL)'], ['\u009b', 'U+009B'], ['\u009f', 'U+009F'], ['\u2028', 'U+2028 (LINE SEPARATOR)'],
  ['\u2029', 'U+2029 (PARAGRAPH SEPARATOR)'], ['\u202e', 'U+202E (bidi control)'], ['\ufeff', 'U+FEFF'], ['\ufffd', 'U+FFFD'],
];
const BASE = ['kmm-module', '--image', '127.0.0.1:5000/nbd', '--kernels', '6.1.0-56-amd64'];

test('the probe through the real binary: DEL and C1 in --kernels are exit 2, nothing on stdout', () => {
  for (const ch of ['\u007f', '\u0085', '\u009b']) {
    const r = spawnSync(cli, ['kmm-module', '--image', '127.0.0.1:5000/nbd', '--kernels', `6.1.0-56-amd64${ch},6.1.0-55-amd64`], { encoding: 'utf8' });
    assert.is(r.status, 2, r.stderr);
    assert.is(r.stdout, '');
    assert.match(r.stderr, /^nbdforge kmm-module: --kernels "6\.1\.0-56-amd64\\u00[0-9a-f]{2},6\.1\.0-55-amd64" contains U\+00/);
  }
});

test('every unseen character in --kernels is exit 2, named, and printed escaped (never raw to the terminal)', async () => {
  for (const [ch, name] of UNSEEN) {
    for (const kernels of [`6.1.0${ch}-56-amd64`, `${ch}6.1.0-56-amd64`, `6.1.0-56-amd64,${ch}`]) {
      const r = await nbdforge([...BASE.slice(0, 3), '--kernels', kernels]);
      assert.is(r.status, 2, `${JSON.stringify(kernels)}: ${r.stderr}`);
      assert.is(r.stdout, '');
      assert.match(r.stderr, name);
      assert.not.ok(r.stderr.slice(0, -1).includes(ch), `${name} printed raw`);
    }
  }
});

test('every other value too: --image, --name, --namespace, --module, --selector key and value', async () => {
  for (const [ch, name] of [['\u007f', 'DEL'], ['\u0085', 'NEL'], ['\u2029', 'PARAGRAPH'], ['\u001f', 'U+001F']]) {
    const cases: Array<[string, string[]]> = [
      ['--image', ['kmm-module', '--image', `127.0.0.1:5000/nbd${ch}`, '--kernels', 'k']],
      ['--name', [...BASE, '--name', `nbd${ch}`]],
      ['--namespace', [...BASE, '--namespace', `kmm${ch}`]],
      ['--module', [...BASE, '--module', `nbd${ch}`]],
      ['--selector', [...BASE, '--selector', `kubernetes.io/os${ch}=linux`]],
      ['--selector', [...BASE, '--selector', `kubernetes.io/os=linux${ch}`]],
    ];
    for (const [flag, args] of cases) {
      const r = await nbdforge(args);
      assert.is(r.status, 2, `${flag} with ${name}: ${r.stderr}`);
      assert.is(r.stdout, '');
      assert.match(r.stderr, `nbdforge kmm-module: ${flag} "`);
      assert.match(r.stderr, name);
    }
  }
});

test('values that would not mean what they say: a kernel that makes no image tag, a module name, selector label syntax (exit 2)', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--kernels', '6.1.0-56-amd64,a:b'], /kernel release "a:b": its image tag "a:b" would not be a tag/],
    [['--kernels', '6.1.0 56'], /kernel release "6\.1\.0 56"/],
    [['--kernels', '${KERNEL_FULL_VERSION}'], /would not be a tag/],
    [['--module', 'nbd;reboot'], /--module "nbd;reboot" is not a kernel module name/],
    [['--module=-nbd x'], /is not a kernel module name/],
    [['--selector', 'a/b/c=d'], /--selector key "a\/b\/c" is not a Kubernetes label key/],
    [['--selector', 'Bad_Prefix/x=y'], /is not a Kubernetes label key/],
    [['--selector', 'os=linux: yes'], /--selector value "linux: yes" for os is not a Kubernetes label value/],
    [['--selector', `os=${'x'.repeat(64)}`], /is not a Kubernetes label value/],
  ];
  for (const [extra, said] of cases) {
    const args = [...BASE, ...extra];
    const r = await nbdforge(args);
    assert.is(r.status, 2, `${extra.join(' ')}: ${r.stderr}`);
    assert.is(r.stdout, '');
    assert.match(r.stderr, said);
    assert.not.match(r.stderr, /KmmValueError/, 'no class name in the message');
  }
});

test('kmmModule refuses them for library callers (KmmValueError, exit 2), in every field', () => {
  const image = parseReference('127.0.0.1:5000/nbd', { allowTag: false });
  const ok = { image, name: 'nbd', module: 'nbd', kernels: ['6.1.0-56-amd64'], selector: { 'kubernetes.io/os': 'linux' } };
  assert.not.throws(() => kmm.kmmModule(ok));
  for (const [ch, name] of UNSEEN) {
    for (const bad of [{ kernels: ['a', `b${ch}`] }, { name: `n${ch}` }, { namespace: `ns${ch}` }, { module: `m${ch}` }, { selector: { [`k${ch}`]: 'v' } }, { selector: { k: `v${ch}` } }]) {
      try {
        kmm.kmmModule({ ...ok, ...bad });
        assert.unreachable(`${name} in ${Object.keys(bad)[0]}`);
      } catch (err) {
        assert.is((err as Error).name, 'KmmValueError', `${name} in ${JSON.stringify(bad)}: ${err}`);
        assert.is((err as { exitCode?: number }).exitCode, 2);
      }
    }
  }
});

test('toYaml alone keeps DEL, C1, NEL, LS/PS and bidi as escapes: a real parser reads the same string back', () => {
  for (const [ch] of UNSEEN) {
    const v = { [`k${ch}`]: `a${ch}b`, list: [`${ch}`, `x${ch}${ch}y`] };
    const doc = parseDocument(toYaml(v));
    assert.equal([doc.errors.map(String), doc.warnings.map(String)], [[], []], JSON.stringify(v));
    assert.equal(doc.toJS(), v, JSON.stringify(v));
    assert.not.ok(/[\u007f-\u009f\u2028\u2029\u202e\ufeff]/.test(toYaml(v)), 'escaped, not raw');
  }
});

test('valid values round-trip: the YAML reads back as asked and passes the KMM CRD schema', async () => {
  const r = await nbdforge(['kmm-module', '--image', '127.0.0.1:5000/team/nbd', '--kernels', '6.1.0-56-amd64, 6.12.107+deb12-amd64,3.10.0-1160.el7.x86_64', '--name', 'nbd.v2', '--namespace', 'kmm-system', '--module', 'nbd', '--selector', 'node-role.kubernetes.io/worker=', '--selector', 'kubernetes.io/os=linux']);
  assert.is(r.status, 0, r.stderr);
  const doc = parseDocument(r.stdout);
  assert.equal([doc.errors, doc.warnings], [[], []]);
  const m = doc.toJS();
  assert.equal(validate(m, schema), []);
  assert.equal(m.metadata, { name: 'nbd.v2', namespace: 'kmm-system' });
  assert.equal(m.spec.selector, { 'node-role.kubernetes.io/worker': '', 'kubernetes.io/os': 'linux' });
  assert.equal(m.spec.moduleLoader.container.modprobe, { moduleName: 'nbd', dirName: '/opt' });
  assert.equal(
    m.spec.moduleLoader.container.kernelMappings.map((k: { literal: string }) => k.literal),
    ['6.1.0-56-amd64', '6.12.107+deb12-amd64', '3.10.0-1160.el7.x86_64'],
  );
});

/** A registry that answers only what kmm-module asks: the tag list, and one manifest and config for a rewritten tag. */
async function registry(tags: string[], release: string): Promise<{ image: string; close: () => Promise<void> }> {
  const config = Buffer.from(JSON.stringify({ config: { Labels: { 'io.nbdforge.kernel-release': release } }, rootfs: { type: 'layers', diff_ids: [] } }));
  const digest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: config.length }, layers: [] }));
  const server = http.createServer((req, res) => {
    const send = (status: number, body: Buffer | string, type = 'application/json') => res.writeHead(status, { 'content-type': type }).end(body);
    if (req.url === '/v2/') return send(200, '{}');
    if (req.url === '/v2/nbd/tags/list') return send(200, JSON.stringify({ name: 'nbd', tags }));
    if (req.url?.startsWith('/v2/nbd/manifests/')) return send(200, manifest, 'application/vnd.oci.image.manifest.v1+json');
    if (req.url === `/v2/nbd/blobs/${digest}`) return send(200, config, 'application/octet-stream');
    send(404, '{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { image: `127.0.0.1:${(server.address() as AddressInfo).port}/nbd`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

test('a registry is not trusted either: a tag outside the tag grammar, or a label with a control character, is exit 3', async () => {
  const cases: Array<[string[], string, number, RegExp]> = [
    [['6.1.0-56-amd64'], 'unused', 0, /literal: "6\.1\.0-56-amd64"/],
    [['6.1.0-56-amd64', '6.12.107_deb12-amd64'], '6.12.107+deb12-amd64', 0, /literal: "6\.12\.107\+deb12-amd64"/],
    [['6.1.0-56-amd64\u007f'], 'unused', 3, /the tag list holds "6\.1\.0-56-amd64\\u007f", which is not a tag/],
    [['6.1.0-56-amd64\u2028kind: Secret'], 'unused', 3, /which is not a tag/],
    [['6.12.107_deb12-amd64'], '6.12.107+deb12\u0085-amd64', 3, /kernel-release label of tag 6\.12\.107_deb12-amd64 .* U\+0085 \(NEL\)/],
    [['6.12.107_deb12-amd64'], '6.12.107 kind: Secret', 3, /label of tag 6\.12\.107_deb12-amd64, "6\.12\.107 kind: Secret", is not a kernel release/],
  ];
  for (const [tags, release, code, said] of cases) {
    const reg = await registry(tags, release);
    try {
      const r = await nbdforge(['kmm-module', '--image', reg.image]);
      assert.is(r.status, code, `${JSON.stringify(tags)} ${JSON.stringify(release)}: ${r.stderr}`);
      assert.match(code === 0 ? r.stdout : r.stderr, said);
      if (code === 0) assert.equal(parseDocument(r.stdout).errors, []);
      else assert.is(r.stdout, '');
    } finally {
      await reg.close();
    }
  }
});

test('issue 19.2: kmm-module --help has two or three examples, those naming --kernels run as printed; an exit-status line', async () => {
  const help = await nbdforge(['kmm-module', '--help']);
  assert.is(help.status, 0);
  const block = help.stdout.split('\nExamples:\n')[1].split('\n\n')[0];
  const ex = block.split('\n').filter((l) => l.startsWith('  nbdforge ')).map((l) => l.trim().split(' | ')[0].split(' ').slice(1));
  assert.ok(ex.length >= 2 && ex.length <= 3, help.stdout);
  assert.match(help.stdout, /\nExit status: 0 written, 1 .*, 2 usage .*, 3 /s);
  const offline = ex.filter((a) => a.includes('--kernels'));
  assert.ok(offline.length >= 1);
  for (const args of offline) {
    const r = await nbdforge(args);
    assert.is(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    const m = args.includes('--json') ? JSON.parse(r.stdout) : parseYaml(r.stdout);
    assert.equal(validate(m, schema), [], args.join(' '));
  }
});

test.run();
