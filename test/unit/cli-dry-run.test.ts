/**
 * Issue 19 item 5: readable dry runs. map, unmap, export and compose --dry-run print a table of the
 * checks a real run refuses with (run on this host, read-only) and the steps that would run; where
 * the real run would refuse they say so and exit 3, with the real run's own message. The script only
 * with --emit-script. prepare-host --dry-run --kernel R plans for R without asking a host.
 * Through the real CLI binary; whether nbd / device-mapper are loaded is this host's real state, and
 * the test expects the branch that state gives (test/unit/map-plan.test.ts controls it instead).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { putModule } from './publish-fixtures.ts';
import { generatorOf } from '../../src/commands/host-cli.ts';

const cli = path.resolve('bin/nbdforge.js');
const K = '6.1.0-56-amd64';
let tmp = '';
const state = () => path.join(tmp, 'state');
const run = (args: string[]) => spawnSync(cli, args, { encoding: 'utf8', env: { ...process.env, NBDFORGE_HOME: path.join(tmp, 'home'), NBDFORGE_STATE_DIR: state() } });
const sh = (script: string) => spawnSync('sh', ['-c', script], { encoding: 'utf8' });
/** The host's real answer to map's nbd-loaded check, asked the way the check asks it. */
const nbdHere = () => sh('[ -d /sys/module/nbd ] || [ -b /dev/nbd0 ]').status === 0;
const dmHere = () => sh('[ -e /sys/class/misc/device-mapper ] || grep -qw device-mapper /proc/misc').status === 0;
const journals = () => (fs.existsSync(path.join(state(), 'maps')) ? fs.readdirSync(path.join(state(), 'maps')) : []);
const row = (out: string, id: string) => new RegExp(`^${id.replace(/[.-]/g, '\\$&')} +`, 'm').exec(out) && out.split('\n').find((l) => l.startsWith(`${id} `))!.slice(id.length).trim();

test.before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-cli-dryrun-'));
  fs.writeFileSync(path.join(tmp, 'disk.img'), Buffer.alloc(1 << 20));
  fs.mkdirSync(path.join(tmp, 'vm'));
  fs.writeFileSync(path.join(tmp, 'outside.raw'), Buffer.alloc(1 << 20));
  const q = spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', path.join(tmp, 'outside.raw'), '-F', 'raw', path.join(tmp, 'vm', 'child.qcow2')], { encoding: 'utf8' });
  if (q.status !== 0) throw new Error(`qemu-img create: ${q.stderr}`);
  if (spawnSync('mkfifo', [path.join(tmp, 'fifo.img')]).status !== 0) throw new Error('mkfifo failed');
  await putModule(path.join(tmp, 'store'), K);
});
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('map --dry-run: the checks run here, steps planned, no script; nbd not loaded -> would refuse, exit 3 (as this host is)', () => {
  const img = path.join(tmp, 'disk.img');
  const r = run(['map', img, '--dry-run']);
  assert.match(r.stdout, new RegExp(`^map ${img.replace(/[.]/g, '\\.')} \\(read-only\\) through qemu-nbd, mounts under /mnt/nbdforge/disk on local: dry run$`, 'm'));
  assert.match(r.stdout, /^STEP +STATUS +TIME +WHAT$/m);
  for (const id of ['image-exists', 'image-refs', 'one-writer']) assert.match(row(r.stdout, id) ?? '', /^passed /, `${id}: ${r.stdout}`);
  for (const id of ['journal', 'connect', 'lvm', 'mount']) assert.match(row(r.stdout, id) ?? '', /^planned /, id);
  assert.not.match(r.stdout, /sh -c|nm_\w+\(\)/, 'no shell program in a dry run');
  assert.ok(r.stdout.length < 4096, `${r.stdout.length} bytes`);
  if (nbdHere()) {
    assert.match(row(r.stdout, 'nbd-loaded') ?? '', /^passed /);
    assert.is(r.status, row(r.stdout, 'tools')?.startsWith('passed') ? 0 : 3, r.stdout + r.stderr);
  } else {
    assert.is(r.status, 3, r.stdout + r.stderr);
    assert.match(row(r.stdout, 'nbd-loaded') ?? '', /^refused /);
    assert.match(row(r.stdout, 'tools') ?? '', /^not-checked /);
    assert.match(r.stdout, /^dry run: nothing changed; would refuse: the nbd module is not loaded on this host .*run `nbdforge prepare-host`/m);
  }
  assert.equal(journals(), [], 'a dry run writes no journal');
});

test('map --loop --dry-run (no nbd needed): every check passes, exit 0, "dry run: nothing changed"', () => {
  const r = run(['map', path.join(tmp, 'disk.img'), '--loop', '--dry-run']);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^tools +passed +losetup, qemu-img, blkid, mount are installed$/m);
  assert.match(r.stdout, /^dry run: nothing changed \(4 checks passed here; 4 steps would run\)$/m);
  assert.equal(journals(), []);
});

test('map --dry-run refuses what the real run refuses, with its message: missing image, a FIFO, a backing file outside', () => {
  const cases = [
    { img: path.join(tmp, 'nope.img'), check: 'image-exists', says: `no such image: ${path.join(tmp, 'nope.img')}` },
    { img: path.join(tmp, 'fifo.img'), check: 'image-refs', says: `image check: ${path.join(tmp, 'fifo.img')} is a FIFO, not a disk image` },
    { img: path.join(tmp, 'vm', 'child.qcow2'), check: 'image-refs', says: `image check: ` },
  ];
  for (const c of cases) {
    const dry = run(['map', c.img, '--loop', '--dry-run']);
    assert.is(dry.status, 3, `${c.img}: ${dry.stdout}${dry.stderr}`);
    assert.match(row(dry.stdout, c.check) ?? '', /^refused /, dry.stdout);
    const said = /^dry run: nothing changed; would refuse: (.*)$/m.exec(dry.stdout)?.[1] ?? '';
    assert.ok(said.startsWith(c.says), `${said} / ${c.says}`);
    // the real run (preconditions refuse before anything changes) says the same, exit 3
    const real = run(['map', c.img, '--loop']);
    assert.is(real.status, 3, real.stdout + real.stderr);
    assert.is(real.stderr.trim().split('\n').pop(), `refused: ${said}`);
  }
  assert.match(run(['map', path.join(tmp, 'vm', 'child.qcow2'), '--loop', '--dry-run']).stdout, /outside\.raw/);
  assert.equal(journals(), []);
});

test('map/export --dry-run --json: JSON alone on stdout, the checks in it, exitCode = the exit status', () => {
  for (const args of [['map', path.join(tmp, 'fifo.img')], ['map', path.join(tmp, 'disk.img'), '--loop'], ['export', path.join(tmp, 'disk.img')]]) {
    const r = run([...args, '--dry-run', '--json']);
    const j = JSON.parse(r.stdout);
    assert.is(j.dryRun, true);
    assert.is(j.exitCode, r.status, args.join(' '));
    assert.is(j.result.runner, 'dry-run');
    assert.ok(j.result.checks.length >= 3);
    assert.is(j.result.outcome, r.status === 3 ? 'refused' : 'dry-run');
    assert.ok(j.result.steps.every((s: { status: string }) => s.status === 'planned'));
  }
});

test('export --dry-run: checks pass here (exit 0), a FIFO would be refused (exit 3); --dry-run with --emit-script is a usage error', () => {
  const ok = run(['export', path.join(tmp, 'disk.img'), '--dry-run']);
  assert.is(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /^socket-free +passed /m);
  assert.match(ok.stdout, /^serve +planned +start qemu-nbd serving nbd\+unix:/m);
  assert.match(ok.stdout, /^dry run: nothing changed \(5 checks passed here; 1 step would run\)$/m);
  const fifo = run(['export', path.join(tmp, 'fifo.img'), '--dry-run']);
  assert.is(fifo.status, 3);
  assert.match(fifo.stdout, /would refuse: image check: .*is a FIFO/);
  const both = run(['export', path.join(tmp, 'disk.img'), '--dry-run', '--emit-script', '-']);
  assert.is(both.status, 2);
  assert.match(both.stderr, /--dry-run and --emit-script exclude each other/);
});

test('unmap --dry-run: nothing mapped -> would fail as the real run fails (exit 1); a real loop map -> what it would undo', () => {
  const img = path.join(tmp, 'disk.img');
  const dry = run(['unmap', img, '--dry-run']);
  assert.is(dry.status, 1, dry.stdout + dry.stderr);
  const said = /^dry run: nothing changed; would fail: (.*)$/m.exec(dry.stdout)?.[1];
  assert.is(said, `nothing mapped or exported matches ${img} (journals in ${state()}/maps)`);
  const real = run(['unmap', img]);
  assert.is(real.status, 1);
  assert.match(real.stderr, said!);
  const all = run(['unmap', '--all', '--dry-run']);
  assert.is(all.status, 0);
  assert.match(all.stdout, /^nothing to unmap$/m);

  const fsImg = path.join(tmp, 'fs.raw');
  fs.writeFileSync(fsImg, Buffer.alloc(8 << 20));
  assert.is(spawnSync('mkfs.ext4', ['-q', '-F', fsImg]).status, 0);
  const mapped = run(['map', fsImg, '--loop', '--no-mount']);
  assert.is(mapped.status, 0, mapped.stdout + mapped.stderr);
  try {
    const dev = /on (\/dev\/loop\d+)/.exec(mapped.stdout)![1];
    const u = run(['unmap', fsImg, '--dry-run']);
    assert.is(u.status, 0, u.stdout + u.stderr);
    assert.match(u.stdout, new RegExp(`^would undo map fs-\\S+ of ${fsImg.replace(/\./g, '\\.')} \\(ro, ${dev}\\): losetup -d ${dev}$`, 'm'));
    assert.match(run(['unmap', dev, '--dry-run']).stdout, /^would undo map /m);
    // the one-writer check reads the journals: a second map of a mapped image would be refused, as for real
    const second = run(['map', fsImg, '--loop', '--no-mount', '--dry-run']);
    assert.is(second.status, 3, second.stdout);
    assert.match(row(second.stdout, 'one-writer') ?? '', /^refused /);
    const why = /^dry run: nothing changed; would refuse: (one writer per image: .*)$/m.exec(second.stdout)?.[1];
    assert.ok(why, second.stdout);
    const real = run(['map', fsImg, '--loop', '--no-mount']);
    assert.is(real.status, 3);
    assert.is(real.stderr.trim().split('\n').pop(), `refused: ${why}`);
    const j = JSON.parse(run(['unmap', '--all', '--dry-run', '--json']).stdout);
    assert.is(j.preview.length, 1);
    assert.is(journals().length, 1, 'the dry run left the journal alone');
  } finally {
    assert.is(run(['unmap', fsImg]).status, 0);
  }
});

test('compose --dry-run: a missing volume would be refused (exit 3); on a loop device the device-mapper check says what this host has', () => {
  const none = run(['compose', path.join(tmp, 'nope'), '--name', 'nbdforge-dry', '--dry-run']);
  assert.is(none.status, 3);
  assert.match(none.stdout, /^dry run: nothing changed; would refuse: no such block device: /m);
  fs.writeFileSync(path.join(tmp, 'vol.img'), Buffer.alloc(8 << 20));
  const l = spawnSync('losetup', ['--find', '--show', path.join(tmp, 'vol.img')], { encoding: 'utf8' });
  assert.is(l.status, 0, l.stderr);
  const loop = l.stdout.trim();
  try {
    const r = run(['compose', loop, '--name', 'nbdforge-dry', '--dry-run']);
    assert.match(row(r.stdout, 'volume') ?? '', /^passed /);
    assert.match(row(r.stdout, 'dm') ?? '', /^planned /);
    if (dmHere()) assert.match(row(r.stdout, 'device-mapper') ?? '', /^passed /);
    else {
      assert.is(r.status, 3);
      assert.match(r.stdout, /would refuse: device-mapper is not available on this host/);
    }
    assert.not.ok(fs.existsSync(path.join(state(), 'composes', 'nbdforge-dry.jsonl')));
  } finally {
    spawnSync('losetup', ['-d', loop]);
  }
});

test('decompose --dry-run: a name no journal has would fail as the real run fails (exit 1, same message); --all: nothing to decompose', () => {
  const dry = run(['decompose', 'nbdforge-no-such', '--dry-run']);
  assert.is(dry.status, 1, dry.stdout + dry.stderr);
  const said = /^dry run: nothing changed; would fail: (.*)$/m.exec(dry.stdout)?.[1];
  assert.is(said, `no composite named nbdforge-no-such (journals in ${state()}/composes)`);
  const real = run(['decompose', 'nbdforge-no-such']);
  assert.is(real.status, 1);
  assert.match(real.stderr, said!);
  const all = run(['decompose', '--all', '--dry-run']);
  assert.is(all.status, 0);
  assert.match(all.stdout, /^nothing to decompose$/m);
});

test('--emit-script still writes the whole script, and its header says which command made it', () => {
  const img = path.join(tmp, 'disk.img');
  const r = run(['map', img, '--emit-script', '-']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^#!\/bin\/sh\n# nbdforge map /);
  assert.match(r.stdout, new RegExp(`^# generated by nbdforge [0-9.]+: nbdforge map ${img.replace(/\./g, '\\.')} --emit-script -$`, 'm'));
  assert.ok(r.stdout.length > 20_000);
  assert.is(spawnSync('sh', ['-n'], { input: r.stdout }).status, 0);
});

test('a script header names the command line, each word quoted, without a URL\'s password', () => {
  assert.is(generatorOf('1.2.3', 'prepare-host', ['--from=https://ops:s3cret@mirror.example/nbd', '--kernel', '3.10.0-1160.el7.x86_64', '--emit-script', 'my script.sh']),
    "nbdforge 1.2.3: nbdforge prepare-host '--from=https://ops:***@mirror.example/nbd' --kernel 3.10.0-1160.el7.x86_64 --emit-script 'my script.sh'");
  assert.is(generatorOf('1.2.3', 'unmap', []), 'nbdforge 1.2.3: nbdforge unmap');
});

test('prepare-host --dry-run --kernel R: plans for R without asking a host; headers say what they are', () => {
  const store = path.join(tmp, 'store');
  const dry = run(['prepare-host', '--from', store, '--dry-run', '--kernel', K, '--no-follow-kernels']);
  assert.is(dry.status, 0, dry.stdout + dry.stderr);
  assert.match(dry.stdout, new RegExp(`^prepare-host dry run for kernel ${K} \\(no host was asked: --kernel\\)$`, 'm'));
  assert.match(dry.stdout, new RegExp(`^install +planned +move it into place as /lib/modules/${K}/extra/nbd\\.ko$`, 'm'));
  assert.match(dry.stdout, /^dry run: nothing changed \(\d+ steps would run\)$/m);
  assert.not.match(dry.stdout, /dry-run|on local/);
  const missing = run(['prepare-host', '--from', store, '--dry-run', '--kernel', '6.1.0-1-amd64']);
  assert.is(missing.status, 3);
  assert.match(missing.stdout, /^dry run: nothing changed; would refuse: no nbd\.ko for kernel 6\.1\.0-1-amd64 in /m);
  const runK = run(['prepare-host', '--from', store, '--kernel', K]);
  assert.is(runK.status, 2);
  assert.match(runK.stderr, /--kernel goes with --dry-run or --emit-script/);

  const file = path.join(tmp, 'prepare.sh');
  const emit = run(['prepare-host', '--from', store, '--kernel', K, '--no-follow-kernels', '--emit-script', file]);
  assert.is(emit.status, 0, emit.stderr);
  assert.match(emit.stdout, new RegExp(`^prepare-host script for kernel ${K} \\(no host was asked: --kernel\\)$`, 'm'));
  assert.match(emit.stdout, /^script: nothing changed here; the script runs these \d+ steps on the target$/m);
  const head = fs.readFileSync(file, 'utf8').split('\n').slice(0, 5).join('\n');
  assert.match(head, new RegExp(`^# generated by nbdforge [0-9.]+: nbdforge prepare-host --from '?${store.replace(/\./g, '\\.')}'? --kernel ${K} --no-follow-kernels --emit-script '?${file.replace(/\./g, '\\.')}'?$`, 'm'));
  assert.match(head, new RegExp(`^# made for a host running kernel ${K} \\(no host was asked: --kernel\\)$`, 'm'));
});

test.run();
