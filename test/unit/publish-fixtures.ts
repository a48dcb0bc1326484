/**
 * Shared by the publish unit tests: a store of real ELF modules (compiled by fixtures-elf.ts, with
 * a real vermagic) put through the real DirStore, a throwaway gpg home with a fresh signing key, the
 * real CLI entry point with captured output, and a static http server on 127.0.0.1.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import type { Manifest } from '../../src/artifacts/manifest.ts';
import { main } from '../../src/cli.ts';
import { buildModule } from './fixtures-elf.ts';

export const sha = (d: string | Uint8Array) => createHash('sha256').update(d).digest('hex');
export const VM = (k: string) => `${k} SMP preempt mod_unload modversions `;

export async function putModule(store: string, kernelRelease: string, opts: { vermagicOf?: string; salt?: string; family?: string; key?: string } = {}): Promise<Manifest> {
  const bytes = buildModule({ vermagic: VM(opts.vermagicOf ?? kernelRelease), greeting: `nbd for ${kernelRelease} ${opts.salt ?? ''}` }).bytes;
  const src = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-publish-src-'));
  try {
    await fs.writeFile(path.join(src, 'nbd.ko'), bytes);
    await fs.writeFile(path.join(src, 'nbd.ko.debug'), 'debug');
    const m: Manifest = {
      schema: 1, key: opts.key ?? sha(`key ${kernelRelease} ${opts.salt ?? ''}`), family: opts.family ?? 'debian12', kernelRelease, module: 'nbd', file: 'nbd.ko', debugFile: 'nbd.ko.debug',
      sha256: sha(bytes), size: bytes.length, debugSha256: sha('debug'), vermagic: VM(opts.vermagicOf ?? kernelRelease).trim(),
      checks: [{ name: 'vermagic', ok: true, detail: 'matches' }], inputs: {}, builderImage: 'sha256:' + sha('i'), compiler: 'gcc-12',
      durationMs: 1, tool: { name: 'nbdforge', version: '0.1.0' }, createdAt: new Date(0).toISOString(),
    };
    await new DirStore(store).put(m, { module: path.join(src, 'nbd.ko'), debug: path.join(src, 'nbd.ko.debug') });
    return m;
  } finally {
    await fs.rm(src, { recursive: true, force: true });
  }
}

export interface GpgHome {
  home: string;
  fingerprint: string;
  env: NodeJS.ProcessEnv;
}

/** The GNUPGHOMEs made in this process: their gpg-agents are stopped and the homes removed when it exits. */
const homes: string[] = [];
process.once('exit', () => {
  for (const home of homes) {
    spawnSync('gpgconf', ['--homedir', home, '--kill', 'all'], { stdio: 'ignore' });
    rmSync(home, { recursive: true, force: true });
  }
});

/** A fresh GNUPGHOME holding one ed25519 signing key without a passphrase (its agent stopped and the home removed at exit). */
export async function gpgHome(uid = 'nbdforge test <publish-test@nbdforge.invalid>'): Promise<GpgHome> {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-gnupg-'));
  homes.push(home);
  await fs.chmod(home, 0o700);
  const env = { ...process.env, GNUPGHOME: home };
  execFileSync('gpg', ['--batch', '--quiet', '--passphrase', '', '--quick-gen-key', uid, 'ed25519', 'sign', 'never'], { env, stdio: 'ignore' });
  const out = execFileSync('gpg', ['--batch', '--with-colons', '--list-secret-keys'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const fingerprint = out.split('\n').find((l) => l.startsWith('fpr:'))!.split(':')[9];
  return { home, fingerprint, env };
}

class Sink {
  text = '';
  isTTY = false;
  write(s: string | Uint8Array): boolean {
    this.text += typeof s === 'string' ? s : Buffer.from(s).toString('utf8');
    return true;
  }
}

/** The real CLI in this process: exit code and what it wrote. */
export async function cli(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Sink();
  const stderr = new Sink();
  const code = await main(argv, { env, stdout: stdout as unknown as NodeJS.WriteStream, stderr: stderr as unknown as NodeJS.WriteStream });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** Serve `root` read-only on 127.0.0.1 (GET only, no directory listings, no path outside root). */
export async function serve(root: string): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(async (req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.join(root, path.normalize(rel));
    if (!file.startsWith(root + path.sep)) return void res.writeHead(403).end();
    try {
      const data = await fs.readFile(file);
      res.writeHead(200, { 'content-length': data.length }).end(data);
    } catch {
      res.writeHead(404).end('not found\n');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}
