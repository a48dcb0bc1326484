/**
 * A published, signed dir site for the kernel-hook vm tests: a throwaway gpg key, the real
 * `nbdforge publish --to dir:` of the test store's artifacts, served by a tiny static server on
 * 127.0.0.1 only (a guest on QEMU user networking reaches it as 10.0.2.2).
 */
import * as assert from 'uvu/assert';
import { $, fs, path, os } from 'zx';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { ROOT, STORE, CLI } from './helpers.ts';

export interface Site {
  port: number;
  fingerprint: string;
  close(): Promise<void>;
}

/** Serve ROOT's files read-only on 127.0.0.1 (a path out of ROOT: 403). */
export async function serveDir(root: string): Promise<{ port: number; server: http.Server }> {
  const server = http.createServer(async (req, res) => {
    const file = path.join(root, path.normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    if (!file.startsWith(root + path.sep)) return void res.writeHead(403).end();
    try {
      const data = await fs.readFile(file);
      res.writeHead(200, { 'content-length': data.length }).end(data);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, server };
}

/**
 * Publish the store's modules for KERNELS into ROOT/NAME, signed with a new key, and serve ROOT.
 * The key's home is removed by close().
 */
export async function publishSite(root: string, name: string, kernels: string[]): Promise<Site> {
  const gnupg = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-vm-gnupg-'));
  await fs.chmod(gnupg, 0o700);
  const env = { ...process.env, GNUPGHOME: gnupg };
  execFileSync('gpg', ['--batch', '--quiet', '--passphrase', '', '--quick-gen-key', 'nbdforge vm test <vm@nbdforge.invalid>', 'ed25519', 'sign', 'never'], { env, stdio: 'ignore' });
  const fingerprint = execFileSync('gpg', ['--batch', '--with-colons', '--list-secret-keys'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    .split('\n')
    .find((l) => l.startsWith('fpr:'))!
    .split(':')[9];
  const r = await $({ cwd: ROOT, env, nothrow: true })`node ${CLI} publish --store ${STORE} --kernels ${kernels.join(',')} --to ${`dir:${path.join(root, name)}`} --gpg-key ${fingerprint}`;
  assert.is(r.exitCode, 0, r.stderr + r.stdout);
  const { port, server } = await serveDir(root);
  return {
    port,
    fingerprint,
    close: async () => {
      await new Promise((r) => server.close(r));
      await fs.remove(gnupg);
    },
  };
}
