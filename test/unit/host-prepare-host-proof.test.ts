/**
 * prepare-host and the proof of loading in its own kernel: shown in the report, --require-proof
 * refusing an unproven artifact before anything runs and recorded for the kernel hook, a damaged proof
 * refused always. The proof records are fixtures (test/fixtures/proof.ts) over real module bytes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { prepareHost } from '../../src/prepare-host/prepare-host.ts';
import { parseOptions } from '../../src/prepare-host/options.ts';
import { cli, putModule } from './publish-fixtures.ts';
import { FakeHost, hostFacts } from './host-fake.ts';
import { fixtureProof, proveStoreFixture } from '../fixtures/proof.ts';

const K = '6.1.0-56-amd64';
let tmp = '';
let store = '';
let proven = '';

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-prepare-host-proof-'));
  // the same module bytes in two stores, proven in the second (a fixture record of its real sha256)
  store = path.join(tmp, 'store');
  proven = path.join(tmp, 'proven-store');
  await putModule(store, K);
  await putModule(proven, K);
});

test.after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

test('--require-proof refuses an unproven artifact before any plan runs (run and --emit-script, exit 3), takes a proven one and records the rule for the kernel hook; a damaged proof is refused either way', async () => {
  const [p] = await proveStoreFixture(proven);
  const run = async (from: string, requireProof: boolean) => {
    const host = new FakeHost(hostFacts(K));
    return { r: await prepareHost({ runner: host, mode: 'run', from, options: parseOptions(''), requireProof }), host };
  };
  const unproven = await run(store, true);
  assert.is(unproven.r.result.outcome, 'refused');
  assert.match(unproven.r.result.message ?? '', /nbd\.ko is not proven in its own kernel \(no proof\.json; nbdforge prove makes one\) and --require-proof is set/);
  assert.is(unproven.host.plans.length, 0, 'nothing ran');
  assert.is(unproven.r.artifact?.proven, false);
  const ok = await run(proven, true);
  assert.is(ok.r.result.outcome, 'changed');
  assert.is(ok.r.artifact?.proven, true);
  assert.is(ok.r.artifact?.proof?.line, `proven in ${K} on 2026-12-01 (QEMU 7.2.0-fixture, tcg, 3 checks)`);
  assert.is(ok.r.artifact?.proof?.key, p.key);
  const conf = ok.host.plans[0].steps.find((s) => s.id === 'kernel-hook-config')!.command[5];
  assert.match(conf, /^NBDFORGE_REQUIRE_PROOF='1'$/m);
  assert.match((await run(store, false)).host.plans[0].steps.find((s) => s.id === 'kernel-hook-config')!.command[5], /^NBDFORGE_REQUIRE_PROOF='0'$/m);
  // the CLI: exit 3 for the unproven one, the proven one emitted with its proof named, text and JSON
  const no = await cli(['prepare-host', '--from', store, '--kernel', K, '--emit-script', path.join(tmp, 'no.sh'), '--require-proof']);
  assert.is(no.code, 3, no.stderr + no.stdout);
  assert.match(no.stdout, /^proof: not proven in its own kernel/m);
  assert.match(no.stdout, /result: refused: .*not proven in its own kernel/);
  assert.not.ok(await fs.access(path.join(tmp, 'no.sh')).then(() => true, () => false), 'no script written');
  const yes = await cli(['prepare-host', '--from', proven, '--kernel', K, '--emit-script', '-', '--require-proof']);
  assert.is(yes.code, 0, yes.stderr);
  assert.match(yes.stderr, new RegExp(`^proof: proven in ${K} on 2026-12-01 \\(QEMU 7\\.2\\.0-fixture, tcg, 3 checks\\)$`, 'm'));
  assert.match(yes.stdout, new RegExp(`^# the module: proven in ${K} on 2026-12-01`, 'm'));
  assert.match(yes.stdout, /^NBDFORGE_REQUIRE_PROOF='\\''1'\\'''$/m, 'the hook configuration the script writes');
  const json = await cli(['prepare-host', '--from', proven, '--kernel', K, '--emit-script', path.join(tmp, 'yes.sh'), '--json']);
  assert.is(json.code, 0, json.stderr);
  assert.equal(JSON.parse(json.stdout).artifact.proof, { line: ok.r.artifact!.proof!.line, key: p.key, kernelRelease: K, date: p.date });
  // a proof.json edited after it was stored: refused even without --require-proof
  const [e] = await new DirStore(proven).list();
  const file = new DirStore(proven).artifactPath(e, 'proof.json');
  await fs.writeFile(file, JSON.stringify(fixtureProof(e, { date: '2026-12-02T00:00:00.000Z' })));
  const damaged = await run(proven, false);
  assert.is(damaged.r.result.outcome, 'refused');
  assert.match(damaged.r.result.message ?? '', /its proof is damaged or not its own: .*proof\.json: sha256 [0-9a-f]{12}, the manifest says [0-9a-f]{12}/);
  assert.is(damaged.host.plans.length, 0);
});

test.run();
