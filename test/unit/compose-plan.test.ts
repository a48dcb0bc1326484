/**
 * compose / decompose plans and their shell steps on this machine (loop devices, no device-mapper):
 * the plan's shape and payloads, the emitted script through dash -n, the journal, head, tail and
 * loop steps run for real with dash and then taken apart by decompose, and the CLI's refusals
 * (no device-mapper says `modprobe dm-mod`, missing volume, a regular file, too small, usage).
 * The device-mapper part runs in a real guest: test/vm/compose.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { planCompose, planDecompose, DM_MISSING } from '../../src/compose/plan-compose.ts';
import { tableFor } from '../../src/compose/run.ts';
import { checkRequest, type ComposeRequest } from '../../src/compose/request.ts';
import { composeStep } from '../../src/compose/steps.ts';
import { emitScript } from '../../src/host/emit-script.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-plan-'));
const loops: string[] = [];
test.after(() => {
  for (const l of loops) spawnSync('losetup', ['-d', l]);
  fs.rmSync(dir, { recursive: true, force: true });
});
const req = (over: Partial<ComposeRequest> = {}): ComposeRequest =>
  checkRequest({ volume: '/dev/vg0/data', name: 'data', table: 'gpt', readOnly: false, force: false, stateDir: '/var/lib/nbdforge', diskGuid: '0D15C0DE-0000-4000-8000-000000000001', partGuid: '0D15C0DE-0000-4000-8000-000000000002', ...over });
function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/nbdforge.js'), ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
function attach(bytes: number): string {
  const f = path.join(dir, `vol-${bytes}.img`);
  fs.writeFileSync(f, '');
  fs.truncateSync(f, bytes);
  const d = execFileSync('losetup', ['--find', '--show', f], { encoding: 'utf8' }).trim();
  loops.push(d);
  return d;
}
const backedBy = (f: string) => fs.readdirSync('/sys/block').filter((b) => b.startsWith('loop') && fs.existsSync(`/sys/block/${b}/loop/backing_file`) && fs.readFileSync(`/sys/block/${b}/loop/backing_file`, 'utf8').trim() === f);

test('plan: refusals first (device-mapper says modprobe dm-mod), the journal step undoes everything, table bytes travel with the plan', () => {
  const r = req();
  const plan = planCompose(r, tableFor(r, 10 << 20), 10 << 20);
  assert.equal(plan.preconditions.map((p) => p.id), ['volume', 'volume-free', 'device-mapper', 'tools', 'size', 'name-free', 'unpartitioned']);
  assert.match(DM_MISSING, /modprobe dm-mod/);
  assert.equal(plan.steps.map((s) => s.id), ['journal', 'head', 'tail', 'loops', 'dm']);
  assert.equal(plan.steps[0].undo!.slice(-3), ['/var/lib/nbdforge', 'name:data', '0']);
  assert.is(plan.steps[1].stdin!.length, 34 * 512, 'only the head bytes that are not zero travel (the rest is a hole)');
  assert.is(plan.steps[2].stdin!.length, 33 * 512);
  assert.equal(plan.steps[4].command.slice(-4), ['data', 'nbdforge-compose-data', 'part1-nbdforge-compose-data', String(2048 + 20480)]);
  const forced = planCompose(req({ force: true, table: 'mbr' }), tableFor(req({ table: 'mbr', diskGuid: undefined, partGuid: undefined }), 10 << 20), 10 << 20);
  assert.not.ok(forced.preconditions.some((p) => p.id === 'unpartitioned'));
  assert.not.ok(forced.steps.some((s) => s.id === 'tail'), 'MBR has no tail');
  const script = path.join(dir, 'compose.sh');
  fs.writeFileSync(script, emitScript(plan));
  execFileSync('dash', ['-n', script]);
  fs.writeFileSync(script, emitScript(planDecompose('/var/lib/nbdforge', { all: true })));
  execFileSync('dash', ['-n', script]);
  assert.throws(() => checkRequest({ ...req(), name: 'a/b' }), /--name/);
  assert.throws(() => checkRequest({ ...req(), volume: 'rel/path' }), /absolute/);
});

test('steps for real with dash: journal, head, tail, read-only loops; decompose detaches and deletes all of it, also after a kill between losetup and its record', () => {
  const vol = attach(4 << 20);
  const state = path.join(dir, 'state');
  const r = req({ volume: vol, name: 'c1', stateDir: state });
  const t = tableFor(r, 4 << 20);
  const run = (argv: string[], stdin?: Uint8Array) => execFileSync('dash', ['-c', argv[2], 'sh', ...argv.slice(4)], { input: stdin, encoding: 'utf8' });
  const plan = planCompose(r, t, 4 << 20);
  for (const s of plan.steps.slice(0, 4)) run(s.command, s.stdin);
  const d = path.join(state, 'composes');
  const head = fs.readFileSync(path.join(d, 'c1.head'));
  assert.is(head.length, 2048 * 512);
  assert.ok(head.subarray(0, t.bytes.head.length).equals(t.bytes.head));
  assert.ok(fs.readFileSync(path.join(d, 'c1.tail')).equals(t.bytes.tail));
  const hl = backedBy(path.join(d, 'c1.head'));
  assert.is(hl.length, 1);
  assert.is(fs.readFileSync(`/sys/block/${hl[0]}/ro`, 'utf8').trim(), '1', 'the head is attached read-only');
  assert.is(backedBy(path.join(d, 'c1.tail')).length, 1);
  // a second run of the journal step: the name is taken
  assert.throws(() => run(plan.steps[0].command), /already exists/);
  // killed right after losetup, before its record: only the begin record names the file
  const extra = execFileSync('losetup', ['--find', '--show', '--read-only', path.join(d, 'c1.head')], { encoding: 'utf8' }).trim();
  const out = run(composeStep('decompose', state, 'name:c1', '1'));
  assert.match(out, /detached \/dev\/loop\d+/);
  assert.match(out, /done: c1/);
  assert.is(backedBy(path.join(d, 'c1.head')).length, 0, `every loop on the head is gone (also ${extra})`);
  assert.is(backedBy(path.join(d, 'c1.tail')).length, 0);
  assert.equal(fs.readdirSync(d), [], 'journal, table, head and tail files removed');
  assert.match(run(composeStep('decompose', state, 'all', '0')), /nothing to decompose/);
});

test('CLI refusals on this machine (exit 3, nothing left) and usage errors (exit 2)', () => {
  const state = path.join(dir, 'cli-state');
  const vol = attach(8 << 20);
  const nodm = cli('compose', vol, '--name', 'x', '--state-dir', state);
  assert.is(nodm.code, 3, nodm.err);
  assert.match(nodm.err, /device-mapper is not available.*modprobe dm-mod/);
  assert.not.ok(fs.existsSync(path.join(state, 'composes', 'x.jsonl')));
  const missing = cli('compose', '/dev/nbdforge-missing', '--name', 'x', '--state-dir', state);
  assert.is(missing.code, 3);
  assert.match(missing.err, /no such block device: \/dev\/nbdforge-missing/);
  const file = cli('compose', path.join(dir, 'vol-8388608.img'), '--name', 'x', '--state-dir', state);
  assert.is(file.code, 3);
  assert.match(file.err, /is not a block device.*--to-file/);
  const small = cli('compose', attach(512 * 1024), '--name', 'x', '--state-dir', state);
  assert.is(small.code, 3);
  assert.match(small.err, /smaller than the alignment/);
  assert.is(cli('compose', vol, '--name', 'x', '--emit-script', '-').code, 2, '--emit-script needs --size');
  assert.is(cli('compose', vol, '--name', 'bad/name').code, 2);
  const control = cli('compose', vol, '--name', 'control', '--state-dir', state);
  assert.is(control.code, 2, 'the name of /dev/mapper/control is refused before anything runs');
  assert.match(control.err, /reserved by device-mapper/);
  // a mounted volume: refused, saying where it is mounted (not dmsetup's "Command failed.")
  const mvol = attach(8 << 20);
  const mnt = path.join(dir, 'mounted');
  fs.mkdirSync(mnt, { recursive: true });
  execFileSync('mkfs.ext4', ['-q', mvol]);
  execFileSync('mount', [mvol, mnt]);
  try {
    const busy = cli('compose', mvol, '--name', 'x', '--state-dir', state);
    assert.is(busy.code, 3, busy.err);
    assert.match(busy.err, new RegExp(`${mvol} is mounted on ${mnt}`));
  } finally {
    execFileSync('umount', [mnt]);
  }
  assert.is(cli('compose', vol).code, 2, '--name or --to-file');
  assert.is(cli('decompose').code, 2);
  const none = cli('decompose', 'nothing-here', '--state-dir', state);
  assert.is(none.code, 1);
  assert.match(none.err, /no composite named nothing-here/);
});

test.run();
