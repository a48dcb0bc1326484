/**
 * Issue 19 (items 2, 3): the usual mistakes get one clear line, a suggestion where one is close, and
 * never the whole help, Node's parser text or an internal class name. Through the real CLI binary;
 * nothing here needs Docker (every case is decided before an engine is asked).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import os from 'node:os';
import { spawn, spawnSync } from 'node:child_process';
import { closest, editDistance } from '../../src/util/suggest.ts';

const cli = path.resolve('bin/nbdforge.js');
const home = path.join(os.tmpdir(), `nbdforge-mistakes-${process.pid}`);
const run = (...args: string[]) => spawnSync(cli, args, { encoding: 'utf8', env: { ...process.env, NBDFORGE_HOME: home } });

/** One line on stderr, exit 2, nothing on stdout, no parser or class-name text. */
function oneLine(r: ReturnType<typeof run>, re: RegExp) {
  assert.is(r.status, 2, r.stderr);
  assert.is(r.stdout, '');
  assert.is(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, re);
  assert.not.match(r.stderr, /[A-Z][a-z]+Error\b|ERR_PARSE_ARGS|To specify|ambiguous/);
}

test('edit distance counts a swap of neighbours as one edit', () => {
  assert.is(editDistance('biuld', 'build'), 1);
  assert.is(editDistance('matirx', 'matrix'), 1);
  assert.is(editDistance('kernl', 'kernel'), 1);
  assert.equal(closest('zzzzzz', ['build', 'matrix']), []);
});

test('kernels as far apart as each other: the nearest number first (6.1.0-99 -> 57, 56, 55, not 47, 50, 53)', () => {
  const known = ['6.1.0-47-amd64', '6.1.0-50-amd64', '6.1.0-53-amd64', '6.1.0-55-amd64', '6.1.0-56-amd64', '6.1.0-57-amd64'];
  assert.equal(closest('6.1.0-99-amd64', known), ['6.1.0-57-amd64', '6.1.0-56-amd64', '6.1.0-55-amd64']);
  assert.equal(closest('6.1.0-48-amd64', known), ['6.1.0-47-amd64', '6.1.0-50-amd64', '6.1.0-53-amd64']);
  assert.equal(closest('biuld', ['build', 'bench']), ['build']);
});

test('a mistyped command: one line naming the closest command, exit 2', () => {
  oneLine(run('biuld'), /^nbdforge: unknown command "biuld" \(did you mean build\?\); nbdforge --help lists them$/m);
  oneLine(run('matirx'), /did you mean matrix\?/);
  oneLine(run('frobnicate'), /^nbdforge: unknown command "frobnicate"; nbdforge --help lists them$/m);
});

test('a mistyped option: the closest option; a flag without its value; a value given to a switch', () => {
  oneLine(run('kernels', '--jsn'), /^nbdforge kernels: unknown option --jsn \(did you mean --json\?\)$/m);
  oneLine(run('build', '--kernl', '6.1.0-56-amd64'), /unknown option --kernl \(did you mean --kernel\?\)/);
  oneLine(run('build', '--kernel', '--force'), /^nbdforge build: --kernel needs a value \(the next word starts with "-"; to pass such a value write --kernel=VALUE\)$/m);
  oneLine(run('build', '--kernel'), /^nbdforge build: --kernel needs a value$/m);
  oneLine(run('cleanup', '--json=yes'), /^nbdforge cleanup: --json takes no value$/m);
});

test('a family by the name people use: centos7, rhel7, el are el7; bookworm is debian12', () => {
  for (const f of ['centos7', 'rhel7', 'CentOS-7', 'el', 'centos7.9']) oneLine(run('build', '--family', f, '--kernel', '3.10.0-1160.el7.x86_64'), new RegExp(`unknown family "${f.replace('.', '\\.')}" \\(did you mean el7\\?\\) \\(known: debian12, el7\\)`));
  oneLine(run('kernels', '--family', 'bookworm'), /did you mean debian12\?/);
  oneLine(run('kernels', '--family', 'el8'), /unknown family "el8" \(did you mean el7\?\)/);
});

test('a wrong argument gives one line and where the usage is, not the whole usage', () => {
  oneLine(run('kernels', 'foo'), /^nbdforge kernels: unexpected argument "foo" \(nbdforge kernels --help shows the usage\)$/m);
  oneLine(run('ci', 'gitlab'), /the only CI engine is github \(nbdforge ci --help shows the usage\)/);
});

test('help CMD is CMD --help; -V, -v, --version and version print the version', () => {
  const a = run('help', 'build');
  const b = run('build', '--help');
  assert.is(a.status, 0);
  assert.is(a.stdout, b.stdout);
  assert.match(a.stdout, /Usage: nbdforge build/);
  const v = JSON.parse(spawnSync('cat', [path.resolve('package.json')], { encoding: 'utf8' }).stdout).version;
  for (const flag of ['-V', '-v', '--version', 'version']) {
    const r = run(flag);
    assert.is(r.status, 0, flag);
    assert.is(r.stdout, `${v}\n`);
  }
});

test('item 4: a --store, --cache or --home that is a file, below a file or read-only is refused before any work (exit 2, where it came from)', async () => {
  const fs = await import('node:fs/promises');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-paths-'));
  const file = path.join(dir, 'afile');
  await fs.writeFile(file, 'x');
  try {
    oneLine(run('build', '--kernel', '6.1.0-56-amd64', '--store', file), /^nbdforge build: --store .*afile is a file, not a directory: give a directory/m);
    oneLine(run('publish', '--store', path.join(file, 'sub'), '--to', `dir:${dir}/site`, '--unsigned'), /--store .*afile\/sub is below a file \(.*afile\): give a directory/);
    oneLine(run('matrix', '--cache', file), /--cache .*afile is a file/);
    const r = spawnSync(cli, ['kernels'], { encoding: 'utf8', env: { ...process.env, NBDFORGE_HOME: file } });
    oneLine(r, /^nbdforge kernels: NBDFORGE_HOME .*afile is a file/m);
    const ro = path.join(dir, 'ro');
    await fs.mkdir(ro);
    assert.is(spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=4k', 'tmpfs', ro]).status, 0, 'this test mounts a read-only tmpfs (root)');
    try {
      oneLine(run('build', '--kernel', '6.1.0-56-amd64', '--cache', path.join(ro, 'cache')), /--cache .*ro\/cache cannot be created: .*ro is not writable/);
    } finally {
      spawnSync('umount', [ro]);
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('NBDFORGE_BUILDER_IDLE that is not whole seconds: one line, exit 2, before any build (build and matrix)', () => {
  for (const v of ['1.5', '-1', 'soon', '9999999']) {
    for (const args of [['build', '--kernel', '6.1.0-57-amd64'], ['matrix', '--latest', '1']]) {
      const r = spawnSync(cli, args, { encoding: 'utf8', env: { ...process.env, NBDFORGE_HOME: home, NBDFORGE_BUILDER_IDLE: v } });
      oneLine(r, new RegExp(`NBDFORGE_BUILDER_IDLE takes whole seconds \\(0 keeps no builder between builds\\), not "${v.replace('.', '\\.')}"`));
    }
  }
});

test('hints are runnable as printed: the build command prepare-host and publish suggest names the family and the store, and parses', async () => {
  const fs = await import('node:fs/promises');
  const { putModule } = await import('./publish-fixtures.ts');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-hints-'));
  try {
    const store = path.join(dir, 'store');
    await putModule(store, '6.1.0-56-amd64');
    const el7 = '3.10.0-1160.el7.x86_64';
    const ph = run('prepare-host', '--from', store, '--kernel', el7, '--emit-script', '-');
    assert.is(ph.status, 3, ph.stderr);
    const hint = /build one with: (nbdforge .*)$/m.exec(ph.stderr)?.[1];
    assert.is(hint, `nbdforge build --family el7 --kernel ${el7} --store ${store}`);
    const pub = run('publish', '--store', store, '--to', `dir:${dir}/site`, '--unsigned', '--kernels', '6.1.0-57-amd64');
    assert.is(pub.status, 3, pub.stderr);
    const hint2 = /run (nbdforge build .*) first/.exec(pub.stderr)?.[1];
    assert.is(hint2, `nbdforge build --family debian12 --kernel 6.1.0-57-amd64 --store ${store}`);
    // a directory with no store, a damaged module: the build that mends it, filled in
    const empty = path.join(dir, 'empty');
    await fs.mkdir(empty);
    const none = run('prepare-host', '--from', empty, '--kernel', el7, '--dry-run');
    assert.is(none.status, 3, none.stdout + none.stderr);
    const hint3 = /build one with: (nbdforge .*)$/m.exec(none.stdout)?.[1];
    assert.is(hint3, `nbdforge build --family el7 --kernel ${el7} --store ${empty}`);
    const ko = (await fs.readdir(store, { recursive: true })).map(String).find((f) => f.endsWith('/nbd.ko'))!;
    await fs.appendFile(path.join(store, ko), 'x');
    const dmg = run('prepare-host', '--from', store, '--kernel', '6.1.0-56-amd64', '--dry-run');
    assert.is(dmg.status, 3, dmg.stdout + dmg.stderr);
    const hint4 = /rebuild it with: (nbdforge .*)$/m.exec(dmg.stdout)?.[1];
    assert.is(hint4, `nbdforge build --force --family debian12 --kernel 6.1.0-56-amd64 --store ${store}`);
    const pub2 = run('publish', '--store', store, '--to', `dir:${dir}/site`, '--unsigned');
    assert.is(pub2.status, 3, pub2.stderr);
    assert.is(/rebuild with: (nbdforge .*)$/m.exec(pub2.stderr)?.[1], hint4);
    // run as printed (no engine here): whatever stops it, it is not the command line (exit 2)
    for (const h of [hint!, hint2!, hint3!, hint4!]) {
      const r = spawnSync(cli, h.split(' ').slice(1), { encoding: 'utf8', env: { ...process.env, NBDFORGE_HOME: path.join(dir, 'home'), DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
      assert.is.not(r.status, 2, `${h}: ${r.stderr}`);
      assert.is.not(r.status, 0, `${h}: there is no engine or vault here`);
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('an unsigned dir publish prints the index sha256 and the hosts\' commands filled in; both run as printed', async () => {
  const fs = await import('node:fs/promises');
  const { createHash } = await import('node:crypto');
  const { putModule, serve } = await import('./publish-fixtures.ts');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-pin-hint-'));
  const site = path.join(dir, 'site');
  const srv = await serve(site);
  try {
    const K = '6.1.0-56-amd64';
    const store = path.join(dir, 'store');
    await putModule(store, K);
    const pub = run('publish', '--store', store, '--to', `dir:${site}`, '--unsigned', '--url', srv.url);
    assert.is(pub.status, 0, pub.stderr);
    const said = pub.stdout + pub.stderr;
    const hash = createHash('sha256').update(await fs.readFile(path.join(site, 'index.json'))).digest('hex');
    assert.match(said, `index.json is NOT signed (--unsigned): hosts pin it by its sha256, ${hash}`);
    const nb = /^ +or: (nbdforge prepare-host .*)$/m.exec(said)?.[1];
    assert.is(nb, `nbdforge prepare-host --from ${srv.url} --index-sha256 ${hash}`);
    const curl = /^ +hosts: (curl .*)$/m.exec(said)?.[1];
    assert.is(curl, `curl -fsSL ${srv.url}/install.sh | sh -s -- --index-sha256 ${hash}`);
    const env = { ...process.env, NBDFORGE_HOME: path.join(dir, 'home'), NBDFORGE_STATE_DIR: path.join(dir, 'state') };
    // (not spawnSync: the server lives in this process and must answer meanwhile)
    const spawnAsync = (cmd: string, args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const c = spawn(cmd, args, { env });
        let stdout = '';
        let stderr = '';
        c.stdout.on('data', (d) => (stdout += d));
        c.stderr.on('data', (d) => (stderr += d));
        c.on('close', (status) => resolve({ status, stdout, stderr }));
      });
    // as printed, plus what keeps it off this host: a dry run for K (prepare-host), a download only (install.sh)
    const ph = await spawnAsync(cli, [...nb!.split(' ').slice(1), '--dry-run', '--kernel', K, '--no-follow-kernels']);
    assert.is(ph.status, 0, ph.stdout + ph.stderr);
    assert.match(ph.stdout, new RegExp(`^artifact: ${srv.url.replace(/\./g, '\\.')} debian12/${K}/`, 'm'));
    const dl = path.join(dir, 'dl');
    const ish = await spawnAsync('sh', ['-c', `${curl} --download-only ${dl} --kernel ${K}`]);
    assert.is(ish.status, 0, ish.stdout + ish.stderr);
    assert.ok((await fs.readdir(dl, { recursive: true })).some((f) => String(f).endsWith('nbd.ko')));
    // a wrong pin is refused by both
    const bad = await spawnAsync(cli, ['prepare-host', '--from', srv.url, '--index-sha256', '0'.repeat(64), '--dry-run', '--kernel', K]);
    assert.is(bad.status, 3, bad.stdout + bad.stderr);
  } finally {
    await srv.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test.run();
