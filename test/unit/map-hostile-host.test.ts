/**
 * Issue 24 (host half), the parts that need no nbd or device-mapper, run for real on this machine
 * with dash, busybox sh and bash: the state dir / mount root check (StrictModes-like), the journal
 * encoding of any byte, the mount root claimed by mkdir (0700, journal 0600), unmap stopping at a
 * busy mount and naming its holder, and the CLI options. The guest tier runs the rest
 * (test/vm/map-hostile-host.test.ts).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LIB } from '../../src/host/sh-library.ts';
import { stepProgram } from '../../src/map/steps.ts';
import { resolveMap } from '../../src/map/request.ts';
import { planMap, mapFlags } from '../../src/map/plan-map.ts';
import { parseJournal, mapState } from '../../src/host/journal.ts';
import { main } from '../../src/cli.ts';
import { Writable } from 'node:stream';

// and the el7-userland tier's bash 4.2 (as sh) when it sets NBDFORGE_TEST_SH
const SHELLS = [['dash'], ['busybox', 'sh'], ['bash', '--posix'], ...(process.env.NBDFORGE_TEST_SH ? [[process.env.NBDFORGE_TEST_SH]] : [])];
const run = (shell: string[], script: string, ...args: string[]) => spawnSync(shell[0], [...shell.slice(1), '-c', script, 'sh', ...args], { encoding: 'utf8' });
const lib = (snippet: string) => `${LIB}\n${snippet}`;
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-hostile-'));
const mode = (p: string) => (fs.statSync(p).mode & 0o7777).toString(8);

test('nm_safe_dir: refuses a world-writable directory, a symlink, another owner; a sticky parent and missing parts are fine', () => {
  const d = tmp();
  try {
    fs.mkdirSync(path.join(d, 'ok/sub'), { recursive: true });
    fs.mkdirSync(path.join(d, 'ww'));
    fs.chmodSync(path.join(d, 'ww'), 0o777);
    fs.mkdirSync(path.join(d, 'gw'));
    fs.chmodSync(path.join(d, 'gw'), 0o775);
    fs.mkdirSync(path.join(d, 'sticky/mine'), { recursive: true });
    fs.chmodSync(path.join(d, 'sticky'), 0o1777);
    fs.mkdirSync(path.join(d, 'theirs'));
    fs.chownSync(path.join(d, 'theirs'), 65534, 65534);
    fs.symlinkSync(path.join(d, 'ok'), path.join(d, 'link'));
    fs.mkdirSync(path.join(d, 'sp ace'));
    const cases: Array<[string, RegExp | null]> = [
      ['ok/sub', null],
      ['ok/new/deeper', null],
      ['sticky/mine', null],
      ['sticky/mine/new', null],
      ['sp ace/x', null],
      ['ww', /refusing state dir .*\/ww: writable by group or others \(drwxrwxrwx\)/],
      ['ww/planted', /\/ww: writable by group or others/],
      ['gw/x', /\/gw: writable by group or others/],
      ['sticky', /\/sticky: writable by others \(drwxrwxrwt\)/],
      ['theirs/x', /\/theirs: owned by uid 65534, not root/],
      ['link/sub', /\/link: it is a symbolic link/],
    ];
    // a mode string with a trailing '.' (SELinux, coreutils on CentOS 7) or '+' (ACL): an ls that adds one
    const fake = path.join(d, 'bin');
    fs.mkdirSync(fake);
    fs.writeFileSync(path.join(fake, 'ls'), '#!/bin/sh\n/bin/ls "$@" | sed "s/^\\([^ ]*\\) /\\1. /"\n', { mode: 0o755 });
    const selinux = spawnSync('dash', ['-c', lib(`PATH=${fake}:$PATH; nm_safe_dir "$1" "state dir" && echo SAFE`), 'sh', path.join(d, 'ww/x')], { encoding: 'utf8' });
    assert.match(selinux.stdout, /\/ww: writable by group or others \(drwxrwxrwx\.\)/);
    assert.is(spawnSync('dash', ['-c', lib(`PATH=${fake}:$PATH; nm_safe_dir "$1" "state dir" && echo SAFE`), 'sh', path.join(d, 'sticky/mine')], { encoding: 'utf8' }).stdout.trim(), 'SAFE');
    for (const sh of SHELLS)
      for (const [p, want] of cases) {
        const r = run(sh, lib('nm_safe_dir "$1" "state dir" && echo SAFE'), path.join(d, p));
        if (want) {
          assert.is(r.status, 1, `${sh[0]} ${p}: ${r.stdout}`);
          assert.match(r.stdout, want, `${sh[0]} ${p}`);
        } else assert.is(r.stdout.trim(), 'SAFE', `${sh[0]} ${p}: ${r.stdout}${r.stderr}`);
      }
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
  }
});

test('journal values carry any byte: written as valid JSON, read back by the shell and by Node', () => {
  const d = tmp();
  try {
    // every byte but NUL (a shell variable cannot hold it), a label/UUID an image could carry
    const all = Buffer.from(Array.from({ length: 127 }, (_, i) => i + 1)).toString('latin1');
    const odd = ['a\\b"c', 'x\\u0022y', 'line1\nline2', '\t\x01\x1f', all];
    for (const sh of SHELLS) {
      const j = path.join(d, `${path.basename(sh[0])}-${SHELLS.indexOf(sh)}.jsonl`);
      const script = lib('NM_J=$1; NM_SEQ=0; shift; nm_jw info map id x; for v; do nm_jw info blk label "$v"; done; n=0; while IFS= read -r l; do n=$((n + 1)); [ $n = 1 ] && continue; nm_get label "$l"; printf "%s\\0" "$NM_V"; done < "$NM_J"');
      const r = spawnSync(sh[0], [...sh.slice(1), '-c', script, 'sh', j, ...odd], { encoding: 'latin1' });
      assert.is(r.status, 0, r.stderr);
      assert.equal(r.stdout.split('\0').slice(0, -1), odd, `${sh[0]}: read back by the shell`);
      const recs = parseJournal(fs.readFileSync(j, 'latin1'));
      assert.equal(recs.slice(1).map((x) => x.label), odd, `${sh[0]}: read by Node`);
    }
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
  }
});

test("blkid -o export escapes come off (LABEL=a\\\\b\\\"c); the failed mount's reason, not the dmesg pointer", () => {
  const r = run(['dash'], lib('nm_unbs "$1"; printf "%s|" "$NM_V"; nm_last "$2"'), 'a\\\\b\\"c\\ d', 'mount: /mnt/x: wrong fs type, bad option, bad superblock on /dev/nbd0.\n       dmesg(1) may have more information after failed mount system call.');
  assert.is(r.stdout, 'a\\b"c d|mount: /mnt/x: wrong fs type, bad option, bad superblock on /dev/nbd0.\n');
});

test('journal step: mount roots claimed by mkdir (0700; a second default root gets -2), a given root must not exist, a symlinked one is refused; journal 0600; unmap removes what it made', () => {
  const d = tmp();
  try {
    const state = path.join(d, 'state');
    const base = path.join(d, 'mnt', 'nbdforge');
    const img = path.join(d, 'img.raw');
    fs.writeFileSync(img, '');
    const open = stepProgram('open');
    const step = (id: string, root: string, auto: '0' | '1', flags = '') => spawnSync('dash', ['-c', open, 'sh', state, id, img, 'ro', 'nbd', 'raw', '', root, auto, flags], { encoding: 'utf8' });
    const a = step('a', path.join(base, 'img'), '1');
    const b = step('b', path.join(base, 'img'), '1');
    assert.is(a.status, 0, a.stdout);
    assert.is(b.status, 0, b.stdout);
    const head = (id: string) => mapState(parseJournal(fs.readFileSync(path.join(state, 'maps', `${id}.jsonl`), 'utf8')));
    assert.is(head('a').root, path.join(base, 'img'));
    assert.is(head('b').root, path.join(base, 'img-2'), 'the second map claims its own root');
    assert.is(mode(path.join(base, 'img')), '700');
    assert.is(mode(base), '700', 'a parent nbdforge made is root-only too');
    assert.is(mode(path.join(state, 'maps', 'a.jsonl')), '600');
    assert.is(mode(path.join(state, 'maps')), '700');
    assert.equal(head('a').actions.filter((x) => x.kind === 'mkdir').map((x) => x.fields.dir), [path.join(d, 'mnt'), base, path.join(base, 'img')]);
    const exists = step('c', path.join(base, 'img'), '0');
    assert.is(exists.status, 1);
    assert.match(exists.stdout, /mount root .* exists: give a path that does not exist yet/);
    fs.mkdirSync(path.join(d, 'real'));
    fs.symlinkSync(path.join(d, 'real'), path.join(d, 'link'));
    const link = step('d', path.join(d, 'link', 'x'), '0');
    assert.is(link.status, 1);
    assert.match(link.stdout, /refusing mount root .*\/link: it is a symbolic link/);
    assert.not.ok(fs.existsSync(path.join(d, 'real', 'x')));
    const nomount = step('e', path.join(base, 'other'), '0', 'nomount');
    assert.is(nomount.status, 0);
    assert.is(head('e').root, undefined, '--no-mount claims no root');
    assert.not.ok(fs.existsSync(path.join(base, 'other')));
    // a, which made the shared parents, is unmapped first: b adopted them, so b's unmap removes them
    assert.equal(head('b').actions.filter((x) => x.kind === 'mkdir').map((x) => x.fields.dir), [path.join(d, 'mnt'), base, path.join(base, 'img-2')]);
    const ua = spawnSync('dash', ['-c', stepProgram('unmap'), 'sh', state, 'id:a', '1'], { encoding: 'utf8' });
    assert.is(ua.status, 0, ua.stdout);
    assert.ok(fs.existsSync(path.join(base, 'img-2')) && !fs.existsSync(path.join(base, 'img')), "a's root gone, b's kept");
    const u = spawnSync('dash', ['-c', stepProgram('unmap'), 'sh', state, 'all', '0'], { encoding: 'utf8' });
    assert.is(u.status, 0, u.stdout);
    assert.not.ok(fs.existsSync(path.join(d, 'mnt')), 'every directory the maps made is gone');
    assert.equal(fs.readdirSync(path.join(state, 'maps')), []);
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
  }
});

test('unmap stops at a busy mount: names the holder, leaves the device alone, keeps the journal, never says done; the next unmap finishes', async () => {
  const d = tmp();
  const dir = path.join(d, 'root', 'p1');
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', 'nbdforge-busy', dir]);
  const holder = spawn('sleep', ['60'], { cwd: dir, stdio: 'ignore' });
  try {
    const state = path.join(d, 'state');
    fs.mkdirSync(path.join(state, 'maps'), { recursive: true, mode: 0o700 });
    const j = [
      `{"seq":1,"ev":"info","kind":"map","id":"m","image":"/nonexistent.qcow2","mode":"rw","via":"nbd","root":"${path.join(d, 'root')}"}`,
      `{"seq":2,"ev":"begin","kind":"mkdir","dir":"${path.join(d, 'root')}"}`,
      '{"seq":3,"ev":"done","of":2}',
      '{"seq":4,"ev":"begin","kind":"connect","dev":"/dev/nbd15","image":"/nonexistent.qcow2","format":"qcow2","mode":"rw"}',
      `{"seq":5,"ev":"begin","kind":"mkdir","dir":"${dir}"}`,
      `{"seq":6,"ev":"begin","kind":"mount","src":"nbdforge-busy","dir":"${dir}"}`,
    ];
    fs.writeFileSync(path.join(state, 'maps/m.jsonl'), j.join('\n') + '\n', { mode: 0o600 });
    const unmap = () => spawnSync('dash', ['-c', stepProgram('unmap'), 'sh', state, 'all', '0'], { encoding: 'utf8' });
    await new Promise((r) => setTimeout(r, 200));
    const busy = unmap();
    assert.is(busy.status, 1, busy.stdout);
    assert.match(busy.stdout, new RegExp(`cannot unmount ${dir}: busy, held by process ${holder.pid}\\(sleep\\)`));
    assert.not.match(busy.stdout, /done:/);
    assert.match(busy.stdout, /INCOMPLETE/);
    const s = mapState(parseJournal(fs.readFileSync(path.join(state, 'maps/m.jsonl'), 'utf8')));
    assert.equal(s.pending.map((a) => a.kind), ['mount', 'mkdir', 'connect', 'mkdir'], 'nothing under the busy mount was undone');
    assert.ok(s.actions.find((a) => a.kind === 'mount')!.undoFailed, 'the failure is recorded against the mount (not another record)');
    assert.not.match(busy.stdout, new RegExp(`${holder.pid}\\(sleep\\) ${holder.pid}`), "the holder named once");
    assert.ok(fs.readFileSync('/proc/self/mounts', 'utf8').includes(` ${dir} `), 'still mounted');
    holder.kill();
    await new Promise((r) => holder.once('exit', r));
    const free = unmap();
    assert.is(free.status, 0, free.stdout);
    assert.match(free.stdout, /unmounted .*\n(.*\n)*done: \/nonexistent.qcow2/);
    assert.not.ok(fs.existsSync(path.join(d, 'root')), 'the directories map made are gone');
  } finally {
    holder.kill();
    spawnSync('umount', [dir]);
    fs.rmSync(d, { recursive: true, force: true });
  }
});

test('map options: --exec and --no-mount reach the journal step; --no-mount excludes --mount-root; the plan says nosuid,nodev,noexec', async () => {
  const base = { image: '/vms/a.qcow2', mode: 'ro' as const, via: 'nbd' as const, stateDir: '/var/lib/nbdforge', id: 'a-1' };
  const m = resolveMap(base);
  assert.is(mapFlags(m), '');
  assert.is(planMap(m).steps[0].command.at(-1), '');
  assert.match(planMap(m).steps[3].describe, /nosuid,nodev,noexec; ext2\/3\/4 errors=remount-ro/);
  assert.is(mapFlags(resolveMap({ ...base, exec: true, noMount: true })), 'exec nomount');
  assert.match(planMap(resolveMap({ ...base, noMount: true })).title, /nothing mounted \(--no-mount\)/);
  let err = '';
  const sink = new Writable({ write: (c, _e, cb) => ((err += c.toString()), cb()) }) as unknown as NodeJS.WriteStream;
  assert.is(await main(['map', '--no-mount', '--mount-root', '/x', '/vms/a.qcow2'], { stdout: sink, stderr: sink }), 2);
  assert.match(err, /--no-mount mounts nothing/);
});

test.run();
