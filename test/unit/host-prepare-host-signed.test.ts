/**
 * prepare-host on hosts that enforce module signatures: a module signed by the real kbuild sign-file
 * (manifest carrying its certificate) goes ahead, an unsigned one is refused with the way out named,
 * and a signature that does not match its manifest is refused as corrupt. The host is a fake runner
 * answering the facts probe; the artifacts are real files in a real DirStore.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import type { Manifest } from '../../src/artifacts/manifest.ts';
import { openArtifactSource } from '../../src/prepare-host/artifact-source.ts';
import { resolveArtifact } from '../../src/prepare-host/resolve-artifact.ts';
import { prepareHost } from '../../src/prepare-host/prepare-host.ts';
import { parseOptions } from '../../src/prepare-host/options.ts';
import type { Runner, ExecResult } from '../../src/host/runner.ts';
import type { Plan, PlanResult } from '../../src/host/plan.ts';
import { FACTS_SCRIPT } from '../../src/host/facts.ts';
import { readSigningCert } from '../../src/verify/certificate.ts';
import { buildModule } from './fixtures-elf.ts';

const SIGN_FILE = '/usr/lib/linux-kbuild-6.1/scripts/sign-file';
const sha = (d: string | Uint8Array) => createHash('sha256').update(d).digest('hex');
const VM = (k: string) => `${k} SMP preempt mod_unload modversions `;
const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-prepare-signed-'));
const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });

function keyPair(name: string) {
  const key = path.join(tmp, `${name}.key`);
  const cert = path.join(tmp, `${name}.crt`);
  run('openssl', ['req', '-new', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '30', '-subj', `/CN=${name}`, '-keyout', key, '-out', cert]);
  return { key, cert, parsed: readSigningCert(execFileSync('cat', [cert]), cert) };
}
const a = keyPair('alpha');
const b = keyPair('beta');

/** Sign `bytes` with the real sign-file; returns the signed bytes. */
async function sign(bytes: Uint8Array, k: typeof a): Promise<Buffer> {
  const src = path.join(tmp, `u-${sha(bytes).slice(0, 8)}.ko`);
  await fs.writeFile(src, bytes);
  run(SIGN_FILE, ['sha256', k.key, k.cert, src, `${src}.signed`]);
  return fs.readFile(`${src}.signed`);
}

const store = new DirStore(path.join(tmp, 'store'));
/** Store `bytes` for a kernel; `sig` names the certificate and unsigned bytes the manifest records. */
async function put(kernelRelease: string, bytes: Uint8Array, sig?: { cert: typeof a; unsigned: Uint8Array }): Promise<void> {
  const src = await fs.mkdtemp(path.join(tmp, 'src-'));
  await fs.writeFile(path.join(src, 'nbd.ko'), bytes);
  await fs.writeFile(path.join(src, 'nbd.ko.debug'), 'debug');
  const c = sig?.cert.parsed;
  const m: Manifest = {
    schema: 1, key: sha(`key ${kernelRelease}`), family: 'debian12', kernelRelease, module: 'nbd', file: 'nbd.ko', debugFile: 'nbd.ko.debug',
    sha256: sha(bytes), size: bytes.length, debugSha256: sha('debug'), vermagic: VM(kernelRelease).trim(),
    checks: [{ name: 'vermagic', ok: true, detail: 'matches' }], inputs: {}, builderImage: 'sha256:' + sha('i'), compiler: 'gcc-12',
    durationMs: 1, tool: { name: 'nbdforge', version: '0.1.0' }, createdAt: new Date(0).toISOString(),
    ...(c ? { signature: { format: 'pkcs7', hash: 'sha256', keyAlgorithm: 'rsa', signer: { subject: c.subject, fingerprint: c.fingerprint }, certificate: c.der.toString('base64'), unsignedSha256: sha(sig!.unsigned) } } : {}),
  };
  await store.put(m, { module: path.join(src, 'nbd.ko'), debug: path.join(src, 'nbd.ko.debug') });
}

const mod = (k: string) => buildModule({ vermagic: VM(k) }).bytes;
const SIGNED = '6.1.0-56-amd64';
const UNSIGNED = '6.1.0-55-amd64';
const u56 = mod(SIGNED);
await put(SIGNED, await sign(u56, a), { cert: a, unsigned: u56 });
await put(UNSIGNED, mod(UNSIGNED));
// Signed by beta, but the manifest says alpha.
const u54 = mod('6.1.0-54-amd64');
await put('6.1.0-54-amd64', await sign(u54, b), { cert: a, unsigned: u54 });
// The manifest records a signature, the module has none.
const u53 = mod('6.1.0-53-amd64');
await put('6.1.0-53-amd64', u53, { cert: a, unsigned: u53 });
// The module is signed, the manifest records nothing.
await put('6.1.0-50-amd64', await sign(mod('6.1.0-50-amd64'), a));

class FakeHost implements Runner {
  readonly name = 'fake';
  readonly target = 'fake-host';
  plans: Plan[] = [];
  constructor(private readonly facts: string) {}
  async exec(argv: string[]): Promise<ExecResult> {
    assert.equal(argv, ['sh', '-c', FACTS_SCRIPT]);
    return { exitCode: 0, stdout: this.facts, stderr: '' };
  }
  async run(plan: Plan): Promise<PlanResult> {
    this.plans.push(plan);
    return { plan: plan.id, runner: this.name, outcome: 'changed', steps: [], ms: 0 };
  }
}

const facts = (k: string, ...extra: string[]) =>
  [`kernel=${k}`, 'machine=x86_64', 'uid=0', `moddir=/lib/modules/${k}`, 'modules_disabled=0', `vermagic=${VM(k)}`,
    ...['modprobe', 'depmod', 'modinfo', 'sha256sum', 'base64'].map((t) => `tool=${t}=/usr/sbin/${t}`), ...extra].join('\n') + '\n';

async function prepare(f: string) {
  const host = new FakeHost(f);
  const r = await prepareHost({ runner: host, mode: 'run', from: store.root, options: parseOptions('') });
  return { r, host };
}

test.after(() => fs.rm(tmp, { recursive: true, force: true }));

test('a signed module is re-verified against its manifest\'s certificate when it is picked', async () => {
  const art = await resolveArtifact(openArtifactSource(store.root), SIGNED);
  assert.equal(art.signer, { subject: 'CN=alpha', fingerprint: a.parsed.fingerprint });
  assert.is((await resolveArtifact(openArtifactSource(store.root), UNSIGNED)).signer, undefined);
});

test('sig_enforce=Y or lockdown: the signed module goes ahead, with no signature precondition in its plan', async () => {
  for (const extra of ['sig_enforce=Y', 'lockdown=none [integrity] confidentiality']) {
    const { r, host } = await prepare(facts(SIGNED, extra));
    assert.is(r.result.outcome, 'changed', `${extra}: ${r.result.message}`);
    assert.equal(r.artifact!.signer!.fingerprint, a.parsed.fingerprint);
    assert.not.ok(host.plans[0].preconditions.some((p) => p.id === 'signatures'));
  }
});

test('sig_enforce=Y: the unsigned module is refused, the way out named, no plan run', async () => {
  const { r, host } = await prepare(facts(UNSIGNED, 'sig_enforce=Y'));
  assert.is(r.result.outcome, 'refused');
  assert.match(r.result.message!, /enforces module signatures .* this module is unsigned: build it with --sign-key\/--sign-cert .*mokutil.*: sig_enforce=Y/);
  assert.is(host.plans.length, 0);
  // Without enforcement the unsigned module keeps its signature precondition (the run re-checks it).
  const ok = await prepare(facts(UNSIGNED, 'sig_enforce=N'));
  assert.is(ok.r.result.outcome, 'changed');
  assert.ok(ok.host.plans[0].preconditions.some((p) => p.id === 'signatures'));
});

test('signature and manifest disagree: refused as corrupt, whatever the host enforces', async () => {
  const cases: Array<[string, RegExp]> = [
    ['6.1.0-54-amd64', /not by the certificate CN=alpha/],
    ['6.1.0-53-amd64', /carries no appended signature/],
    ['6.1.0-50-amd64', /carries a signature its manifest does not record/],
  ];
  for (const [k, why] of cases) {
    const { r, host } = await prepare(facts(k, 'sig_enforce=N'));
    assert.is(r.result.outcome, 'refused', k);
    assert.match(r.result.message!, why);
    assert.match(r.result.message!, /refusing to install it/);
    assert.is(host.plans.length, 0);
  }
});

test.run();
