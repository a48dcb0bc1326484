import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import path from 'node:path';
import { emitScript } from '../../src/host/emit-script.ts';
import { parseRecords } from '../../src/host/records.ts';
import { executePlan } from '../../src/host/execute.ts';
import { LocalRunner } from '../../src/host/runners/local.ts';
import { validatePlan, type Plan } from '../../src/host/plan.ts';
import { shc } from '../../src/host/step.ts';
import { sandbox, shells, runScript } from './host-fixtures.ts';
import { testShell } from './test-shell.ts';

const HOSTILE = ['a b', "it's", '"dq"', '$(touch pwned)', '`touch pwned2`', '$HOME', '*', '', '-n', 'x;rm -rf /', 'back\\slash', 'new\nline', 'tab\there', 'ünï', '=eq', '%s\\n'];

function planOf(over: Partial<Plan>): Plan {
  return validatePlan({ id: 'test', title: 'a test plan', preconditions: [], steps: [], ...over });
}

for (const sh of shells()) {
  test(`[${sh.join(' ')}] hostile arguments reach the command byte for byte`, async () => {
    const box = await sandbox();
    try {
      const plan = planOf({
        steps: [
          { id: 'one', describe: "it's \"hostile\" $(x)", command: ['rec', ...HOSTILE], undo: ['rec', 'undo', ...HOSTILE] },
          // sh -c steps are inlined as subshells: their arguments must still arrive as "$@", one word each
          { id: 'two', describe: 'sh -c', command: shc('[ $# = 16 ] && rec "$@" && [ -z "$nf_leak" ]', ...HOSTILE), probe: shc('nf_leak=1; [ "$1" = x ]', 'y') },
        ],
      });
      const r = runScript(sh, emitScript(plan), box.env, box.dir);
      assert.is(r.exitCode, 0, r.stderr);
      assert.equal(await box.calls(), [HOSTILE, HOSTILE]);
      assert.not.ok(await fs.stat(path.join(box.dir, 'pwned')).catch(() => undefined), 'command substitution ran');
      assert.is(parseRecords(plan, r.stdout, r.exitCode, 'sh').outcome, 'changed');
    } finally {
      await box.cleanup();
    }
  });

  test(`[${sh.join(' ')}] a failure undoes completed steps in reverse, skips the rest`, async () => {
    const box = await sandbox();
    try {
      const plan = planOf({
        steps: [
          { id: 's1', describe: 'first', command: ['rec', 'run1'], undo: ['rec', 'undo1'] },
          { id: 's2', describe: 'already', command: ['rec', 'run2'], probe: ['true'], undo: ['rec', 'undo2'] },
          { id: 's3', describe: 'no undo', command: ['rec', 'run3'] },
          { id: 's4', describe: 'check', command: ['rec', 'run4'], undo: ['rec', 'undo4'], readOnly: true },
          { id: 's5', describe: 'breaks', command: ['fail', '7', 'boom: no space'], undo: ['rec', 'undo5'] },
          { id: 's6', describe: 'never', command: ['rec', 'run6'] },
        ],
      });
      const r = runScript(sh, emitScript(plan), box.env, box.dir);
      assert.is(r.exitCode, 1);
      assert.equal((await box.calls()).map((c) => c.join(' ')), ['run1', 'run3', 'run4', 'fail 7 boom: no space', 'undo4', 'undo1']);
      const res = parseRecords(plan, r.stdout, r.exitCode, 'sh');
      assert.is(res.outcome, 'failed');
      assert.equal(
        res.steps.map((s) => s.status),
        ['undone', 'already', 'done', 'undone', 'failed', 'skipped'],
      );
      assert.is(res.steps[4].exitCode, 7);
      assert.match(res.message!, /step s5 failed \(exit 7\): boom: no space; completed steps were undone/);
    } finally {
      await box.cleanup();
    }
  });

  test(`[${sh.join(' ')}] preconditions: refuse (exit 3) or nothing to do (exit 0), before any step`, async () => {
    const box = await sandbox();
    try {
      const steps = [{ id: 'x', describe: 'x', command: ['rec', 'x'] }];
      const refuse = planOf({
        preconditions: [
          { id: 'ok', describe: 'fine', check: ['true'], otherwise: 'refuse', message: 'never' },
          { id: 'root', describe: 'root', check: shc('echo "uid is 1000"; exit 1'), otherwise: 'refuse', message: 'must run as root' },
        ],
        steps,
      });
      let r = runScript(sh, emitScript(refuse), box.env, box.dir);
      assert.is(r.exitCode, 3);
      let res = parseRecords(refuse, r.stdout, r.exitCode, 'sh');
      assert.is(res.outcome, 'refused');
      assert.is(res.message, 'must run as root: uid is 1000');
      const nothing = planOf({ preconditions: [{ id: 'builtin', describe: 'b', check: ['false'], otherwise: 'nothing-to-do', message: 'nbd is built in' }], steps });
      r = runScript(sh, emitScript(nothing), box.env, box.dir);
      assert.is(r.exitCode, 0);
      res = parseRecords(nothing, r.stdout, r.exitCode, 'sh');
      assert.is(res.outcome, 'nothing-to-do');
      assert.is(res.message, 'nbd is built in');
      assert.equal(await box.calls(), []);
    } finally {
      await box.cleanup();
    }
  });

  test(`[${sh.join(' ')}] payload bytes arrive intact; lock held by a live pid refuses, a dead one is taken over`, async () => {
    const box = await sandbox();
    try {
      const bytes = new Uint8Array(3000).map((_, i) => (i * 7 + (i >> 8)) & 0xff);
      const lock = path.join(box.dir, 'lock');
      const out = path.join(box.dir, 'payload.bin');
      const plan = planOf({ lock, steps: [{ id: 'stage', describe: 'stage', command: shc('cat > "$1"', out), stdin: bytes }] });
      await fs.mkdir(lock);
      await fs.writeFile(path.join(lock, 'pid'), `${process.pid}\n`);
      let r = runScript(sh, emitScript(plan), box.env, box.dir);
      assert.is(r.exitCode, 3);
      assert.match(parseRecords(plan, r.stdout, 3, 'sh').message!, /another run holds the lock .* \(pid \d+\)/);
      await fs.writeFile(path.join(lock, 'pid'), '999999999\n');
      r = runScript(sh, emitScript(plan), box.env, box.dir);
      assert.is(r.exitCode, 0, r.stderr);
      assert.equal(new Uint8Array(await fs.readFile(out)), bytes);
      assert.not.ok(await fs.stat(lock).catch(() => undefined), 'lock released');
    } finally {
      await box.cleanup();
    }
  });
}

test('the emitted script and the local runner agree on every status', async () => {
  const box = await sandbox();
  try {
    const mk = (tag: string): Plan =>
      planOf({
        steps: [
          { id: 'a', describe: 'a', command: ['rec', tag, 'a'], undo: ['rec', tag, 'undo-a'] },
          { id: 'b', describe: 'b', command: ['rec', tag, 'b'], probe: ['false'], readOnly: true },
          { id: 'c', describe: 'c', command: ['fail', '3', 'nope'], undo: ['rec', 'never'] },
          { id: 'd', describe: 'd', command: ['rec', tag, 'd'] },
        ],
      });
    const script = runScript([testShell('/bin/sh')], emitScript(mk('sh')), box.env, box.dir);
    const fromScript = parseRecords(mk('sh'), script.stdout, script.exitCode, 'x');
    const local = await executePlan(mk('node'), (a, o) => new LocalRunner({ env: box.env }).exec(a, o), 'x');
    const strip = (r: typeof local) => ({ ...r, ms: 0, steps: r.steps.map(({ ms: _ms, ...s }) => s) });
    assert.equal(strip(fromScript), strip(local));
    const calls = (await box.calls()).map((c) => c.join(' '));
    assert.equal(calls.filter((c) => c.startsWith('sh')).map((c) => c.slice(3)), calls.filter((c) => c.startsWith('node')).map((c) => c.slice(5)));
  } finally {
    await box.cleanup();
  }
});

test('a step that succeeds with "warning: " lines: people see them, and both runners report them as its detail', async () => {
  const box = await sandbox();
  try {
    const plan = planOf({
      steps: [
        { id: 'warns', describe: 'warns', command: shc('echo "noise"; echo "warning: VG vg0 was already active" >&2; echo "warning: second"') },
        { id: 'quiet', describe: 'quiet', command: shc('echo "just output"; echo "not a warning: x" >&2') },
      ],
    });
    const script = runScript([testShell('/bin/sh')], emitScript(plan), box.env, box.dir);
    assert.is(script.exitCode, 0, script.stderr);
    assert.match(script.stderr, /\[nbdforge\] warns: warning: VG vg0 was already active\n/);
    assert.match(script.stderr, /\[nbdforge\] warns: warning: second\n/);
    assert.not.match(script.stderr, /noise|not a warning/);
    const fromScript = parseRecords(plan, script.stdout, script.exitCode, 'x');
    const logs: string[] = [];
    const local = await executePlan(plan, (a, o) => new LocalRunner({ env: box.env }).exec(a, o), 'x', { log: (l) => logs.push(l) });
    for (const r of [fromScript, local]) {
      assert.is(r.outcome, 'changed');
      assert.is(r.steps[0].detail, 'warning: VG vg0 was already active\nwarning: second');
      assert.is(r.steps[1].detail, undefined);
    }
    assert.ok(logs.includes('warns: warning: second'), logs.join('\n'));
  } finally {
    await box.cleanup();
  }
});

test('emitted script: SIGTERM mid-plan undoes completed steps, reports failed, releases the lock', async () => {
  const box = await sandbox();
  try {
    const { spawn } = await import('node:child_process');
    const lock = path.join(box.dir, 'lock');
    const plan = planOf({
      lock,
      steps: [
        { id: 'make', describe: 'make', command: ['touch', path.join(box.dir, 'made')], undo: ['rm', path.join(box.dir, 'made')] },
        { id: 'wait', describe: 'wait', command: shc('touch "$1"; sleep 20', path.join(box.dir, 'waiting')) },
        { id: 'never', describe: 'never', command: ['touch', path.join(box.dir, 'never')] },
      ],
    });
    const child = spawn(testShell('/bin/sh'), ['-s'], { env: box.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    child.stdin.end(emitScript(plan));
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    for (let i = 0; i < 200 && !(await fs.stat(path.join(box.dir, 'waiting')).catch(() => undefined)); i++) await new Promise((r) => setTimeout(r, 50));
    process.kill(-child.pid!, 'SIGTERM');
    const code = await new Promise((r) => child.on('close', r));
    assert.is(code, 130);
    const res = parseRecords(plan, out, 130, 'sh');
    assert.is(res.outcome, 'failed');
    assert.is(res.steps[0].status, 'undone');
    assert.is(res.steps[2].status, 'skipped');
    assert.not.ok(await fs.stat(path.join(box.dir, 'made')).catch(() => undefined), 'completed step undone');
    assert.not.ok(await fs.stat(lock).catch(() => undefined), 'lock released');
  } finally {
    await box.cleanup();
  }
});

test.run();
