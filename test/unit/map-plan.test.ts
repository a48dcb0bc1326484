/**
 * map/unmap/export planning, request checks, and the target-side shell library run for real on this
 * machine with dash (journal records, field reading, name escaping, unmap of directories from a journal).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveMap, parseOffset, imageName, checkPath, MapRequestError } from '../../src/map/request.ts';
import { planMap, NBD_MISSING } from '../../src/map/plan-map.ts';
import { planUnmap } from '../../src/map/plan-unmap.ts';
import { resolveExport, planExport } from '../../src/map/plan-export.ts';
import { LIB, TABLE, libFor, libChunks } from '../../src/host/sh-library.ts';
import { stepProgram, type StepBody } from '../../src/map/steps.ts';
import { emitScript } from '../../src/host/emit-script.ts';
import { wrapScript, mapEpilogue } from '../../src/host/wrap.ts';
import { testShell } from './test-shell.ts';
import { DryRunRunner } from '../../src/host/runners/dry-run.ts';
import { LocalRunner } from '../../src/host/runners/local.ts';
import { executePlan } from '../../src/host/execute.ts';
import type { Runner, ExecOptions } from '../../src/host/runner.ts';
import { renderTable } from '../../src/host/report.ts';

const base = { mode: 'ro' as const, via: 'nbd' as const, stateDir: '/var/lib/nbdforge', id: 'disk-1' };
const isErr = (re: RegExp) => (e: unknown) => e instanceof MapRequestError && re.test((e as Error).message);

test('resolveMap: defaults, per-image mount root, refusals', () => {
  const m = resolveMap({ ...base, image: '/vms/Web Server.qcow2' });
  assert.is(m.mountRoot, '/mnt/nbdforge/Web_Server');
  assert.ok(m.autoRoot);
  assert.is(m.journal, '/var/lib/nbdforge/maps/disk-1.jsonl');
  assert.is(imageName('/x/.hidden.img'), 'hidden');
  assert.throws(() => resolveMap({ ...base, image: '/vms/a"b.qcow2' }), isErr(/quotes/));
  assert.throws(() => resolveMap({ ...base, image: '/a.raw', via: 'loop', mode: 'snapshot' }), isErr(/--snapshot needs qemu-nbd/));
  assert.throws(() => resolveMap({ ...base, image: '/a.raw', offset: 512 }), isErr(/--offset goes with --loop/));
  assert.throws(() => resolveMap({ ...base, image: '/a.raw', via: 'loop', offset: 100 }), isErr(/multiple of 512/));
  assert.throws(() => resolveMap({ ...base, image: '/a.raw', mountRoot: '/' }), isErr(/cannot be \//));
  assert.throws(() => checkPath('x', 'a\nb'), isErr(/control/));
  assert.is(parseOffset('2048s'), 1048576);
  assert.is(parseOffset('1M'), 1048576);
  assert.is(parseOffset('4096'), 4096);
  assert.throws(() => parseOffset('1.5M'), isErr(/--offset/));
});

test('planMap: preconditions refuse before any change (nbd missing says prepare-host); the first step undoes everything', () => {
  const plan = planMap(resolveMap({ ...base, image: '/vms/a.qcow2' }));
  assert.equal(plan.preconditions.map((p) => p.id), ['image-exists', 'image-refs', 'one-writer', 'nbd-loaded', 'tools']);
  assert.match(plan.preconditions[3].message, /nbdforge prepare-host/);
  assert.is(plan.preconditions[3].message, NBD_MISSING);
  assert.equal(plan.steps.map((s) => s.id), ['journal', 'connect', 'lvm', 'mount']);
  assert.ok(plan.steps[0].undo, 'the journal step undoes the whole map');
  assert.equal(plan.steps[0].undo!.slice(-3), ['/var/lib/nbdforge', 'id:disk-1', '0']);
  assert.ok(plan.steps.slice(1).every((s) => !s.undo && !s.probe));
  const loop = planMap(resolveMap({ ...base, image: '/vms/a.raw', via: 'loop', offset: 1048576 }));
  assert.not.ok(loop.preconditions.some((p) => p.id === 'nbd-loaded'));
  assert.equal(loop.steps[0].command.slice(4), ['/var/lib/nbdforge', 'disk-1', '/vms/a.raw', 'ro', 'loop', '', '1048576', '/mnt/nbdforge/a', '1', '']);
});

/**
 * This host's kernel with or without nbd, as map's nbd-loaded check sees it: the real local runner,
 * except that this one check (and only it) gets the answer the test chose. Every other check and the
 * whole dry-run path are the real ones.
 */
class NbdAs implements Runner {
  readonly name = 'local';
  readonly target = 'local';
  private readonly local = new LocalRunner();
  constructor(private readonly loaded: boolean) {}
  exec(argv: string[], opts?: ExecOptions) {
    if (argv[0] === 'sh' && argv[2]?.includes('/sys/module/nbd')) return Promise.resolve({ stdout: '', stderr: '', exitCode: this.loaded ? 0 : 1 });
    return this.local.exec(argv, opts);
  }
  run(): never {
    throw new Error('a dry run never runs a plan on the inner runner');
  }
}

test('dry run of a map plan: checks run on the target in the real order; nbd missing -> refused with the real message; loaded -> planned', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-map-dry-'));
  try {
    const img = path.join(dir, 'disk.img');
    fs.writeFileSync(img, Buffer.alloc(1 << 20));
    const m = resolveMap({ ...base, image: img, stateDir: path.join(dir, 'state') });
    const plan = planMap(m);
    const without = await new DryRunRunner(new NbdAs(false), () => assert.unreachable('nothing printed'), false).run(plan);
    assert.is(without.outcome, 'refused');
    assert.is(without.message, NBD_MISSING);
    assert.equal(without.checks!.map((c) => `${c.id}:${c.status}`), ['image-exists:passed', 'image-refs:passed', 'one-writer:passed', 'nbd-loaded:refused', 'tools:not-checked']);
    assert.ok(without.steps.every((s) => s.status === 'planned'));
    // the real executor refuses with the same message at the same check
    const real = await executePlan(plan, (a, o) => new NbdAs(false).exec(a, o), 'local');
    assert.is(real.outcome, 'refused');
    assert.is(real.message, without.message);
    assert.match(renderTable(without), /^dry run: nothing changed; would refuse: the nbd module is not loaded/m);

    const withNbd = await new DryRunRunner(new NbdAs(true), () => {}, false).run(plan);
    assert.equal(withNbd.checks!.slice(0, 4).map((c) => c.status), ['passed', 'passed', 'passed', 'passed']);
    const toolsHere = spawnSync('sh', ['-c', 'for t in qemu-nbd qemu-img blockdev blkid mount; do command -v $t >/dev/null || exit 1; done']).status === 0;
    assert.is(withNbd.outcome, toolsHere ? 'dry-run' : 'refused');
    if (toolsHere) assert.match(renderTable(withNbd), /^dry run: nothing changed \(5 checks passed here; 4 steps would run\)$/m);
    assert.not.ok(fs.existsSync(path.join(dir, 'state', 'maps')) && fs.readdirSync(path.join(dir, 'state', 'maps')).length > 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('planUnmap: selectors', () => {
  const sel = (p: ReturnType<typeof planUnmap>) => p.steps[0].command.slice(-2);
  assert.equal(sel(planUnmap('/s', { all: true })), ['all', '0']);
  assert.equal(sel(planUnmap('/s', { image: '/vms/a.qcow2' })), ['image:/vms/a.qcow2', '1']);
  assert.equal(sel(planUnmap('/s', { device: '/dev/nbd3' })), ['dev:/dev/nbd3', '1']);
});

test('export: a root-only Unix socket by default; TCP when asked, URL and -drive line, exposure warning, refusals', () => {
  const d = resolveExport({ image: '/vms/a.qcow2', bind: '127.0.0.1', port: 10809, persistent: true, shared: 1, readOnly: true, stateDir: '/s', id: 'export-a' });
  assert.is(d.socket, '/run/nbdforge/export-a/nbd.sock');
  assert.ok(d.autoSocket && !d.tcp && !d.exposed);
  assert.is(d.url, 'nbd+unix:///?socket=/run/nbdforge/export-a/nbd.sock');
  assert.equal(planExport(d).preconditions.map((p) => p.id), ['image-exists', 'image-refs', 'one-writer', 'tools', 'socket-free']);
  const e = resolveExport({ ...d, socket: undefined, tcp: true });
  assert.is(e.url, 'nbd://127.0.0.1:10809');
  assert.is(e.drive, '-drive file=nbd://127.0.0.1:10809,format=raw,if=virtio,readonly=on');
  assert.not.ok(e.exposed);
  assert.ok(resolveExport({ ...e, bind: '0.0.0.0' }).exposed);
  // a name is not loopback, however it starts: the host resolves it
  assert.ok(resolveExport({ ...e, bind: '127.0.0.1.example.com' }).exposed);
  assert.ok(resolveExport({ ...e, bind: 'localhost' }).exposed);
  assert.not.ok(resolveExport({ ...e, bind: '127.1.2.3' }).exposed);
  assert.ok(resolveExport({ ...e, bind: '127.1.2.300' }).exposed);
  assert.throws(() => resolveExport({ ...e, socketGroup: 'disk' }), isErr(/--socket-group/));
  assert.throws(() => resolveExport({ ...d, socketGroup: 'a b' }), isErr(/--socket-group/));
  assert.throws(() => resolveExport({ ...e, socket: '/run/x.sock' }), isErr(/exclude/));
  assert.is(resolveExport({ ...e, bind: '::1' }).url, 'nbd://[::1]:10809');
  const s = resolveExport({ ...e, tcp: false, socket: '/run/a,b.sock', readOnly: false });
  assert.is(s.url, 'nbd+unix:///?socket=/run/a,b.sock');
  assert.is(s.drive, '-drive file=nbd+unix:///?socket=/run/a,,b.sock,format=raw,if=virtio');
  assert.throws(() => resolveExport({ ...e, port: 70000 }), isErr(/--port/));
  assert.throws(() => resolveExport({ ...e, bind: 'a b' }), isErr(/--bind/));
  const plan = planExport(e);
  assert.equal(plan.steps.map((x) => x.id), ['serve']);
  assert.ok(plan.steps[0].undo);
});

test('emitted map script: valid POSIX sh for dash, plan + table epilogue', () => {
  const m = resolveMap({ ...base, image: "/vms/it's.qcow2" });
  const script = wrapScript(emitScript(planMap(m)), 'nbdforge map', mapEpilogue(m.journal));
  const r = spawnSync(testShell('dash'), ['-n'], { input: script });
  assert.is(r.status, 0, r.stderr.toString());
  assert.match(script, /^\($/m, 'the plan runs in a subshell, not a second sh');
});

/** Run a snippet after the library in dash, as the target does. */
function sh(snippet: string, ...args: string[]): string {
  return execFileSync(testShell('dash'), ['-c', `${LIB}\n${snippet}`, 'sh', ...args], { encoding: 'utf8' });
}

test('shell library: records written and read back without a JSON parser; dm name escaping', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-map-unit-'));
  try {
    fs.mkdirSync(path.join(dir, 'maps'));
    const out = sh(
      'NM_J=$1/maps/x.jsonl; NM_SEQ=0; nm_jw info map image "/vms/a b.qcow2" mode ro root /mnt/x; nm_begin mount dir /mnt/x/p1 opts ro,noload; nm_done; ' +
        'nm_open "$1" x; nm_get opts "$(sed -n 2p "$NM_J")"; echo "$IMG|$MODE|$ROOT|$NM_SEQ|$NM_V"; nm_get of "$(sed -n 3p "$NM_J")"; echo "of=$NM_V"; ' +
        'nm_get missing "{}" || echo absent; nm_dmesc my-vg; echo "$NM_V"; nm_dmunesc lv--x--y; echo "$NM_V"; nm_nodash a-b-c; echo "$NM_V"; nm_enc \'say "hi"\\\\\'; printf "[%s]\\\\n" "$NM_V"; nm_get l "{\\"l\\":\\"$NM_V\\"}"; printf "[%s]\\\\n" "$NM_V"',
      dir,
    );
    assert.equal(out.trim().split('\n'), ['/vms/a b.qcow2|ro|/mnt/x|3|ro,noload', 'of=2', 'absent', 'my--vg', 'lv-x-y', 'abc', '[say \\u0022hi\\u0022\\u005c\\u005c]', '[say "hi"\\\\]']);
    const lines = fs.readFileSync(path.join(dir, 'maps/x.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines[1], { seq: 2, ev: 'begin', kind: 'mount', dir: '/mnt/x/p1', opts: 'ro,noload' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('unmap from a journal, newest first: directories map made go, undone records are skipped, the journal is removed', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-map-unit-'));
  try {
    const root = path.join(dir, 'mnt', 'img');
    fs.mkdirSync(path.join(dir, 'maps'));
    fs.mkdirSync(path.join(root, 'p1'), { recursive: true });
    fs.mkdirSync(path.join(root, 'kept'));
    const j = [
      `{"seq":1,"ev":"info","kind":"map","id":"m","image":"/nonexistent.qcow2","mode":"ro","via":"nbd","root":"${root}"}`,
      // a connect whose device never came up (killed): nothing connected, nothing to do
      '{"seq":2,"ev":"begin","kind":"connect","dev":"/dev/nbd15","image":"/nonexistent.qcow2","format":"qcow2","mode":"ro"}',
      `{"seq":3,"ev":"begin","kind":"mkdir","dir":"${path.join(dir, 'mnt')}"}`,
      `{"seq":4,"ev":"begin","kind":"mkdir","dir":"${root}"}`,
      `{"seq":5,"ev":"begin","kind":"mkdir","dir":"${path.join(root, 'p1')}"}`,
      `{"seq":6,"ev":"begin","kind":"mount","dir":"${path.join(root, 'p1')}"}`,
      '{"seq":7,"ev":"undone","of":5}',
    ];
    fs.writeFileSync(path.join(dir, 'maps/m.jsonl'), j.join('\n') + '\n');
    const body = fs.readFileSync(new URL('../../src/map/sh/unmap.sh', import.meta.url), 'utf8');
    const out = sh(body, dir, 'image:/nonexistent.qcow2', '1');
    assert.match(out, /done: \/nonexistent.qcow2/);
    assert.not.ok(fs.existsSync(path.join(dir, 'maps/m.jsonl')), 'journal removed');
    assert.ok(fs.existsSync(path.join(root, 'p1')), 'p1 was marked undone: left alone');
    assert.ok(fs.existsSync(root), 'a directory that is not empty is left to its other users');
    // nothing matches now: strict unmap says so
    const r = spawnSync(testShell('dash'), ['-c', `${LIB}\n${body}`, 'sh', dir, 'image:/nonexistent.qcow2', '1'], { encoding: 'utf8' });
    assert.is(r.status, 1);
    assert.match(r.stdout, /nothing mapped or exported matches/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('journal read once: nm_device and nm_each walk NM_ALL; the mount table from one read of the journal', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-map-unit-'));
  try {
    const j = [
      '{"seq":1,"ev":"info","kind":"map","id":"x","image":"/share/gpt.qcow2","mode":"ro","via":"nbd","format":"","offset":"","root":"/mnt/nbdforge/gpt"}',
      '{"seq":3,"ev":"begin","kind":"connect","dev":"/dev/nbd1","image":"/share/gpt.qcow2","format":"qcow2","mode":"ro"}',
      '{"seq":5,"ev":"info","kind":"blk","dev":"/dev/nbd1p1","type":"ext4","label":"gpt-p1","uuid":"u"}',
      '{"seq":6,"ev":"info","kind":"blk","dev":"/dev/nbd1p2","type":"LVM2_member","label":"","uuid":"u2"}',
      '{"seq":7,"ev":"begin","kind":"rename","dev":"/dev/nbd1","image":"/share/gpt.qcow2","format":"qcow2","vguuid":"v","from":"vg0","to":"vg0_nbd1","persist":"0"}',
      '{"seq":9,"ev":"info","kind":"blk","dev":"/dev/mapper/vg0_nbd1-root","type":"ext4","label":"gpt-lv","uuid":"u3"}',
      '{"seq":22,"ev":"info","kind":"fs","dev":"/dev/nbd1p1","type":"ext4","name":"p1","dir":"/mnt/nbdforge/gpt/p1","opts":"ro,noload","why":""}',
      '{"seq":23,"ev":"info","kind":"fs","dev":"/dev/nbd1p2","type":"LVM2_member","name":"p2","dir":"","opts":"","why":"LVM physical volume"}',
      '{"seq":26,"ev":"info","kind":"fs","dev":"/dev/mapper/vg0_nbd1-root","type":"ext4","name":"vg0-root","dir":"/mnt/nbdforge/gpt/vg0-root","opts":"ro,noload","why":""}',
    ];
    fs.mkdirSync(path.join(dir, 'maps'));
    fs.writeFileSync(path.join(dir, 'maps/x.jsonl'), j.join('\n') + '\n');
    const out = sh(`nm_open "$1" x; nm_device; echo "$NM_DEV $NM_FMT $NM_SEQ"; c() { echo "[$1]"; }; nm_each c "a *\nb  c"; echo "ifs[$IFS]"`, dir);
    assert.equal(out.split('\n').slice(0, 4), ['/dev/nbd1 qcow2 9', '[a *]', '[b  c]', 'ifs[ \t']);
    const table = execFileSync(testShell('dash'), ['-c', `${LIB}\n${TABLE}\nnm_table "$1"`, 'sh', path.join(dir, 'maps/x.jsonl')], { encoding: 'utf8' });
    assert.equal(table.split('\n').map((l) => l.replace(/ +/g, ' ').trim()), [
      'mounted under /mnt/nbdforge/gpt',
      'VG vg0 is active as vg0_nbd1 (renamed on the snapshot overlay; the image is unchanged)',
      'DEVICE TYPE LABEL MOUNTED-AT OPTIONS',
      '/dev/nbd1p1 ext4 gpt-p1 /mnt/nbdforge/gpt/p1 ro,noload',
      '/dev/nbd1p2 LVM2_member - (LVM physical volume) -',
      '/dev/mapper/vg0_nbd1-root ext4 gpt-lv /mnt/nbdforge/gpt/vg0-root ro,noload',
      '',
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('step programs: each is valid sh with only the library functions it calls, comments dropped', () => {
  const names = libChunks(LIB).filter((c) => c.name).map((c) => c.name);
  assert.ok(names.includes('nm_get') && names.includes('nm_lvm_cfg') && names.includes('nm_detect_format'), names.join(' '));
  for (const b of ['open', 'connect', 'lvm', 'mount', 'unmap', 'export'] as StepBody[]) {
    const prog = stepProgram(b);
    const r = spawnSync(testShell('dash'), ['-n'], { input: prog });
    assert.is(r.status, 0, `${b}: ${r.stderr}`);
    assert.not.match(prog, /^\s*#/m);
  }
  assert.not.match(stepProgram('open'), /nm_lvm_cfg\(\)/);
  assert.match(stepProgram('lvm'), /nm_lvm_cfg\(\)/);
  assert.match(libFor('nm_done'), /nm_end\(\)/, 'functions used by used functions come along');
});

test.run();
