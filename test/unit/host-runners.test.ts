import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { SshRunner } from '../../src/host/runners/ssh.ts';
import { LocalRunner } from '../../src/host/runners/local.ts';
import { DryRunRunner, renderPlan } from '../../src/host/runners/dry-run.ts';
import { HostCommandError } from '../../src/host/runner.ts';
import { acquireLock } from '../../src/host/lock.ts';
import { ownerStamp } from '../../src/util/file-lock.ts';
import { parseFacts, FACTS_SCRIPT } from '../../src/host/facts.ts';
import { shQuote, shJoin } from '../../src/host/quote.ts';
import { validatePlan, type Plan } from '../../src/host/plan.ts';
import { shc } from '../../src/host/step.ts';
import { sandbox } from './host-fixtures.ts';

test('quote: bare words stay bare, everything else round-trips through a real shell', () => {
  assert.is(shQuote('/lib/modules/6.1.0-56-amd64/extra'), '/lib/modules/6.1.0-56-amd64/extra');
  assert.is(shQuote(''), "''");
  assert.is(shQuote("it's"), `'it'\\''s'`);
  assert.is(shJoin(['A=b', 'c']), "'A=b' c");
  assert.throws(() => shQuote('a\0b'), /NUL/);
  const words = ['a b', "'", '"', '$x', '`id`', '\\', '\n', '*', '~', '#', '!', 'é'];
  const r = spawnSync('sh', ['-c', `printf '%s\\0' ${words.map(shQuote).join(' ')}`], { encoding: 'utf8' });
  assert.equal(r.stdout.split('\0').slice(0, -1), words);
});

test('ssh runner: plans and commands go through `sh -s` on the transport and report like a local run', async () => {
  const box = await sandbox();
  try {
    const out = path.join(box.dir, 'out.bin');
    const plan: Plan = validatePlan({
      id: 'p', title: 't', lock: path.join(box.dir, 'lock'), preconditions: [],
      steps: [
        { id: 'write', describe: 'write', command: shc('cat > "$1"', out), stdin: new Uint8Array([0, 1, 2, 255]), undo: ['rm', '-f', out] },
        { id: 'hostile', describe: 'args', command: ['rec', "a'b", '$(id)'] },
        { id: 'bad', describe: 'fails', command: ['fail', '4', 'nope'] },
      ],
    });
    const logs: string[] = [];
    const ssh = new SshRunner('root@example', { transport: ['env', `PATH=${box.env.PATH}`, `NF_TEST_LOG=${box.log}`, 'sh', '-s'], log: (l) => logs.push(l) });
    assert.is(ssh.target, 'ssh root@example');
    const r = await ssh.run(plan);
    assert.is(r.outcome, 'failed');
    assert.equal(r.steps.map((s) => s.status), ['undone', 'done', 'failed']);
    assert.match(r.message!, /step bad failed \(exit 4\): nope; completed steps were undone/);
    assert.not.ok(await fs.stat(out).catch(() => undefined));
    assert.ok(logs.some((l) => l.includes('bad: FAILED')));
    assert.equal(await box.calls(), [["a'b", '$(id)'], ['4', 'nope']].map((a, i) => (i === 1 ? ['fail', ...a] : a)));
    const e = await ssh.exec(['sh', '-c', 'cat; echo " $1"', 'sh', 'x y'], { stdin: new TextEncoder().encode('in') });
    assert.is(e.stdout, 'in x y\n');
    try {
      await ssh.exec(['fail', '5', 'broken']);
      assert.unreachable();
    } catch (err) {
      assert.instance(err, HostCommandError);
      assert.is((err as HostCommandError).status, 5);
      assert.match((err as Error).message, /ssh root@example: `fail 5 broken` exited 5: broken/);
    }
    assert.throws(() => new SshRunner('-oProxyCommand=x'), /bad ssh destination/);
  } finally {
    await box.cleanup();
  }
});

test('local runner: failures carry command, exit code, stderr and the caller', async () => {
  const local = new LocalRunner();
  assert.is((await local.exec(['sh', '-c', 'cat', 'sh'], { stdin: new TextEncoder().encode('abc') })).stdout, 'abc');
  assert.is((await local.exec(['false'], { nothrow: true })).exitCode, 1);
  try {
    await local.exec(['sh', '-c', 'echo oops >&2; exit 3']);
    assert.unreachable();
  } catch (err) {
    const e = err as HostCommandError;
    assert.is(e.status, 3);
    assert.equal(e.command, ['sh', '-c', 'echo oops >&2; exit 3']);
    assert.is(e.stderr.trim(), 'oops');
    assert.match(e.message, /called from .*host-runners\.test\.ts/);
  }
});

test('dry run: prints quoted commands, runs nothing, still reads facts through the inner runner', async () => {
  let printed = '';
  const dry = new DryRunRunner(new LocalRunner(), (t) => (printed += t));
  const plan = validatePlan({ id: 'p', title: 'title', preconditions: [{ id: 'root', describe: 'root', check: ['true'], otherwise: 'refuse', message: 'm' }], steps: [{ id: 's', describe: 'touch', command: ['touch', '/tmp/never here'], probe: ['test', '-e', '/x'], undo: ['rm', '/tmp/never here'] }] });
  const r = await dry.run(plan);
  assert.is(r.outcome, 'dry-run');
  assert.is(printed, renderPlan(plan, 'local'));
  assert.match(printed, /^touch '\/tmp\/never here'$/m);
  assert.match(printed, /# {4}undo: rm '\/tmp\/never here'/);
  assert.is((await dry.exec(['echo', 'hi'])).stdout, 'hi\n');
});

test('lock: a live owner refuses, a dead owner is taken over, release is idempotent', async () => {
  const box = await sandbox();
  try {
    const dir = path.join(box.dir, 'lock');
    const a = await acquireLock(dir);
    assert.type(a, 'object');
    assert.match(String(await acquireLock(dir)), /another run holds the lock .* \(pid \d+\)/);
    await (a as Exclude<typeof a, string>).release();
    await (a as Exclude<typeof a, string>).release();
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'pid'), '999999999\n');
    const b = await acquireLock(dir);
    assert.type(b, 'object');
    assert.is(await fs.readFile(dir, 'utf8'), ownerStamp(), 'an older directory lock of a dead owner is replaced by ours');
    await (b as Exclude<typeof b, string>).release();
  } finally {
    await box.cleanup();
  }
});

test('facts: the probe script runs anywhere and parses; parsing reads every fact', () => {
  const r = spawnSync('sh', ['-c', FACTS_SCRIPT], { encoding: 'utf8' });
  assert.is(r.status, 0);
  assert.ok(parseFacts(r.stdout).kernelRelease.length > 0);
  const f = parseFacts(
    ['kernel=3.10.0-1160.el7.x86_64', 'machine=x86_64', 'uid=0', 'moddir=/lib/modules/3.10.0-1160.el7.x86_64', 'nbd_loaded=yes', 'nbd_param=nbds_max=16',
      'nbd_param=max_part=15', 'nbd_installed=/lib/modules/3.10.0-1160.el7.x86_64/extra/nbd.ko', 'extra_sha256=ab', 'sig_enforce=N', 'modules_disabled=0',
      'vermagic=3.10.0-1160.el7.x86_64 SMP mod_unload modversions ', 'tool=modprobe=/sbin/modprobe', 'tainted=12288'].join('\n'),
  );
  assert.is(f.kernelRelease, '3.10.0-1160.el7.x86_64');
  assert.ok(f.isRoot && f.nbd.loaded && !f.nbd.builtin);
  assert.equal(f.nbd.parameters, { nbds_max: '16', max_part: '15' });
  assert.equal(f.nbd.installed, ['/lib/modules/3.10.0-1160.el7.x86_64/extra/nbd.ko']);
  assert.is(f.signatures.enforced, false);
  assert.is(f.tools.modprobe, '/sbin/modprobe');
  assert.is(f.tainted, 12288);
  assert.throws(() => parseFacts('nothing'), /lack kernel/);
});


test('local runner: SIGTERM mid-plan undoes the completed steps and releases the lock', async () => {
  const box = await sandbox();
  try {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'host-interrupt-child.ts'), box.dir], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    for (let i = 0; i < 200 && !(await fs.stat(path.join(box.dir, 'waiting')).catch(() => undefined)); i++) await new Promise((r) => setTimeout(r, 50));
    // as a terminal's Ctrl-C or systemd's stop does: the signal reaches the runner and its running command
    process.kill(-child.pid!, 'SIGTERM');
    await new Promise((r) => child.on('close', r));
    const r = JSON.parse(out);
    assert.is(r.outcome, 'failed');
    assert.equal(r.steps.map((s: { status: string }) => s.status), ['undone', 'failed', 'skipped']);
    assert.not.ok(await fs.stat(path.join(box.dir, 'made')).catch(() => undefined), 'completed step undone');
    assert.not.ok(await fs.stat(path.join(box.dir, 'lock')).catch(() => undefined), 'lock released');
  } finally {
    await box.cleanup();
  }
});

test.run();
