/**
 * Issue 8 (12, 13, 15): the README's exit-code contract and what a newcomer is told, through the
 * real CLI binary. Nothing here needs Docker: every case is decided before an engine is asked.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { nextSteps } from '../../scripts/quickstart-next.ts';
import { buildModule } from './fixtures-elf.ts';

const cli = path.resolve('bin/nbdforge.js');
let tmp = '';
const run = (args: string[]) => spawnSync(cli, args, { encoding: 'utf8', env: { ...process.env, NBDFORGE_HOME: path.join(tmp, 'home') } });

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-cli-contract-'));
  await fs.writeFile(path.join(tmp, 'disk.img'), Buffer.alloc(1 << 20));
});
test.after(() => fs.rm(tmp, { recursive: true, force: true }));

test('12: unknown family and path-like --kernel values are usage errors (exit 2) that name the fix', () => {
  const fam = run(['build', '--family', 'nosuch', '--kernel', '6.1.0-56-amd64']);
  assert.is(fam.status, 2, fam.stderr);
  assert.match(fam.stderr, /unknown family "nosuch" \(known: debian12, el7\)/);
  for (const k of ['.', '..', '../../etc', 'a/b']) {
    const r = run(['build', '--kernel', k]);
    assert.is(r.status, 2, `${k}: ${r.stderr}`);
    assert.match(r.stderr, /is not a kernel release \(see: nbdforge kernels/);
  }
});

test('12: ssh destinations starting with "-" are refused before ssh sees them, naming --ssh-option', () => {
  const img = path.join(tmp, 'disk.img');
  for (const args of [['map', img, '--ssh=-oProxyCommand=touch /tmp/pwned'], ['unmap', '--all', '--ssh=-F/dev/null'], ['export', img, '--ssh=-oX=y'], ['prepare-host', '--ssh=-oProxyCommand=x']]) {
    const r = run(args);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /is not a destination: give user@host \(ssh options go in --ssh-option/);
  }
});

test('map/unmap/export take --ssh-option like prepare-host, and only with --ssh', () => {
  const img = path.join(tmp, 'disk.img');
  for (const args of [['map', img], ['unmap', '--all'], ['export', img]]) {
    const r = run([...args, '--ssh-option', 'Port=2222']);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /--ssh-option goes with --ssh/);
    const help = run([args[0], '--help']);
    assert.match(help.stdout + help.stderr, /--ssh-option O +passed to ssh as -o O/);
  }
});

test('12: --dry-run --json prints JSON alone on stdout, with its exit status', () => {
  const img = path.join(tmp, 'disk.img');
  for (const args of [['map', img, '--loop'], ['unmap', '--all'], ['export', img]]) {
    const r = run([...args, '--dry-run', '--json', '--state-dir', path.join(tmp, 'state')]);
    let parsed: { dryRun?: boolean; exitCode?: number; result?: { outcome?: string } } = {};
    assert.not.throws(() => (parsed = JSON.parse(r.stdout)), `${args[0]} stdout: ${r.stdout.slice(0, 200)}`);
    assert.is(parsed.result?.outcome, 'dry-run', `${args[0]}: ${r.stdout}`);
    assert.is(parsed.dryRun, true);
    assert.is(parsed.exitCode, 0);
    assert.is(r.status, 0);
  }
});

test('12: --emit-script quotes the file in its hint and says when it replaced one', () => {
  const file = path.join(tmp, 'my map script.sh');
  const img = path.join(tmp, 'disk.img');
  const first = run(['map', img, '--emit-script', file]);
  assert.is(first.status, 0, first.stderr);
  assert.match(first.stderr, `wrote ${file}: run it as root on the target (sh '${file}')`);
  const again = run(['map', img, '--emit-script', file]);
  assert.match(again.stderr, `replaced ${file}:`);
});

test('13: export --bind beyond loopback warns from the CLI; ports and --shared take decimal integers only', () => {
  const img = path.join(tmp, 'disk.img');
  const out = path.join(tmp, 'export.sh');
  const wide = run(['export', img, '--bind', '0.0.0.0', '--rw', '--emit-script', out]);
  assert.is(wide.status, 0, wide.stderr);
  assert.match(wide.stderr, /WARNING: --bind 0\.0\.0\.0 exposes .* READ-WRITE on port 10809 to every host that can reach this address, without authentication/);
  const local = run(['export', img, '--emit-script', out]);
  assert.not.match(local.stderr, /WARNING/);
  // read-only by default; a name is resolved on the host, never taken for loopback by its spelling
  assert.match(run(['export', img, '--bind', '0.0.0.0', '--emit-script', out]).stderr, /exposes .* read-only on port/);
  assert.match(run(['export', img, '--bind', '127.0.0.1.example.com', '--emit-script', out]).stderr, /WARNING: --bind 127\.0\.0\.1\.example\.com \(a name: resolved on the host/);
  for (const [flag, v] of [['--port', '0x50'], ['--port', '1e3'], ['--port', ' 80'], ['--port', ''], ['--shared', '2.5'], ['--shared', '0b1']]) {
    const r = run(['export', img, flag, v, '--emit-script', out]);
    assert.is(r.status, 2, `${flag} ${JSON.stringify(v)}: ${r.stderr}`);
    assert.match(r.stderr, `${flag} must be a decimal number`);
  }
});

test('15: the quickstart\'s "Next" commands run as printed from this folder (npx nbdforge)', async () => {
  const store = path.join(tmp, 'store with space');
  const K = '6.1.0-56-amd64';
  const ko = buildModule({ vermagic: `${K} SMP preempt mod_unload modversions ` }).bytes;
  const sha = (d: string | Uint8Array) => createHash('sha256').update(d).digest('hex');
  await fs.writeFile(path.join(tmp, 'nbd.ko'), ko);
  await fs.writeFile(path.join(tmp, 'nbd.ko.debug'), 'd');
  await new DirStore(store).put(
    {
      schema: 1, key: sha('k'), family: 'debian12', kernelRelease: K, module: 'nbd', file: 'nbd.ko', debugFile: 'nbd.ko.debug', sha256: sha(ko), size: ko.length,
      debugSha256: sha('d'), vermagic: `${K} SMP preempt mod_unload modversions`, checks: [{ name: 'vermagic', ok: true, detail: 'ok' }], inputs: {},
      builderImage: 'sha256:' + sha('i'), compiler: 'gcc-12', durationMs: 1, tool: { name: 'nbdforge', version: '0.1.0' }, createdAt: new Date(0).toISOString(),
    },
    { module: path.join(tmp, 'nbd.ko'), debug: path.join(tmp, 'nbd.ko.debug') },
  );
  const lines = nextSteps(store, K);
  const emitLine = lines.find((l) => l.includes('--emit-script'))!;
  const command = emitLine.slice(emitLine.indexOf('npx nbdforge'));
  const work = path.join(tmp, 'work');
  await fs.mkdir(work);
  // run from the checkout (the README's folder), writing prepare.sh there, then look at it
  const r = spawnSync('sh', ['-c', `${command.replace('prepare.sh', path.join(work, 'prepare.sh'))}`], { encoding: 'utf8', cwd: process.cwd(), env: { ...process.env, PATH: process.env.PATH!.split(':').filter((p) => !p.includes('node_modules')).join(':') } });
  assert.is(r.status, 0, `${command}\n${r.stderr}`);
  assert.match(await fs.readFile(path.join(work, 'prepare.sh'), 'utf8'), /^#!\/bin\/sh/);
  assert.ok(lines.every((l) => !/(^|\s)nbdforge /.test(l.replace(/npx nbdforge/g, ''))), 'every command is npx nbdforge');
});

test.run();
