/**
 * The real kernel hook against sources that misbehave (kernel-hook-fixtures.ts): an older signed
 * tree served again at the same URL (issue 16: refused by the serial kept per source), and a source
 * that drips or never ends its body (issue 25: the hook ends within its bounds). Always exit 0.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { cli } from './publish-fixtures.ts';
import { K56, K57, DEB_VM, tmp, gpg, server, debStore, run, host, record, debConfig, setupHookWorld, teardownHookWorld } from './kernel-hook-fixtures.ts';

test.before(setupHookWorld);
test.after(teardownHookWorld);

test('rollback (issue 16): the hook keeps the highest serial per source with install.sh and prepare-host, and refuses an older signed tree served again (exit 0, said, recorded)', async () => {
  const www = path.join(tmp, 'www');
  const publish = (dir: string) => cli(['publish', '--store', debStore, '--to', `dir:${path.join(www, dir)}`, '--gpg-key', gpg.fingerprint], gpg.env);
  assert.is((await publish('roll-old')).code, 0);
  await new Promise((r) => setTimeout(r, 1100)); // serials are at least the publish time in seconds
  assert.is((await publish('roll-new')).code, 0);
  const serial = async (dir: string) => JSON.parse(await fs.readFile(path.join(www, dir, 'index.json'), 'utf8')).serial as number;
  const [older, newer] = [await serial('roll-old'), await serial('roll-new')];
  assert.ok(older < newer, `${older} < ${newer}`);
  await fs.symlink('roll-new', path.join(www, 'roll'));
  const h = await host(debConfig({ from: `${server.url}/roll` }), [[K56, DEB_VM(K56)], [K57, DEB_VM(K57)]]);
  const first = await h.hook(['dash'], K57, `/boot/vmlinuz-${K57}`);
  assert.is(first.code, 0, first.stderr);
  assert.match(await record(h, K57, '.last'), /^outcome=installed\n/);
  const stateDir = path.join(h.root, 'var/lib/nbdforge/serials');
  const [file] = await fs.readdir(stateDir);
  assert.match(await fs.readFile(path.join(stateDir, file), 'utf8'), new RegExp(`^${newer} ${server.url}/roll\n$`));
  // the same URL now serves the older, validly signed tree
  await fs.rm(path.join(www, 'roll'));
  await fs.symlink('roll-old', path.join(www, 'roll'));
  const replay = await h.hook(['dash'], K56, `/boot/vmlinuz-${K56}`);
  assert.is(replay.code, 0, 'a hook never fails the kernel installation');
  assert.match(replay.stderr, new RegExp(`serial ${older}, older than serial ${newer} this host already accepted`));
  assert.match(await record(h, K56, '.last'), /^outcome=refused\n/);
  assert.not.ok(existsSync(path.join(h.root, 'lib/modules', K56, 'extra/nbd.ko')));
});

test('issue 25: a source that drips or sends without end never holds the package manager: the hook ends within NBDFORGE_TIMEOUT (or at the size cap), exit 0, says why (curl, GNU wget, busybox wget)', async () => {
  const http = await import('node:http');
  const srv = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (req.url?.startsWith('/endless/')) {
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const more = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', more);
      };
      res.on('close', () => res.destroy());
      return more();
    }
    const t = setInterval(() => res.write(' '), 1000);
    res.on('close', () => clearInterval(t));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
  const bb = await fs.mkdtemp(path.join(tmp, 'busybox-'));
  for (const tool of ['wget', 'timeout', 'head']) await fs.symlink('/bin/busybox', path.join(bb, tool));
  try {
    for (const [name, env] of [
      ['curl', {}],
      ['GNU wget', { NBDFORGE_DOWNLOADER: 'wget' }],
      ['busybox wget', { NBDFORGE_DOWNLOADER: 'wget', PATH: `${bb}:${process.env.PATH}` }],
    ] as Array<[string, NodeJS.ProcessEnv]>) {
      const drip = await host(debConfig({ from: `${base}/drip` }), [[K57, DEB_VM(K57)]]);
      const t0 = Date.now();
      const d = await run(['dash', path.join(drip.root, 'etc/kernel/postinst.d/nbdforge-nbd'), K57, `/boot/vmlinuz-${K57}`], { ...drip.env, ...env, NBDFORGE_TIMEOUT: '3' });
      const ms = Date.now() - t0;
      assert.is(d.code, 0, `${name}: a hook never fails the kernel's installation`);
      assert.ok(ms < 10_000, `${name}: ${ms} ms for a 3 s bound`);
      assert.match(d.stderr, /source unreachable: cannot download http:\/\/127\.0\.0\.1:\d+\/drip\/index\.json: too slow \(below 1 KiB\/s for 3 s\) or not done within 3 s/, name);
      const endless = await host(debConfig({ from: `${base}/endless` }), [[K57, DEB_VM(K57)]]);
      const e = await run(['dash', path.join(endless.root, 'etc/kernel/postinst.d/nbdforge-nbd'), K57, `/boot/vmlinuz-${K57}`], { ...endless.env, ...env, NBDFORGE_TIMEOUT: '20' });
      assert.is(e.code, 0);
      assert.match(e.stderr, /more than the 16777216 bytes allowed; refusing the rest/, name);
    }
  } finally {
    srv.closeAllConnections();
    await new Promise<void>((r) => srv.close(() => r()));
  }
});

test.run();
