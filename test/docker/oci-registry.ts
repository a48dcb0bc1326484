/**
 * Test harness for the oci tests: Debian's real docker-registry on 127.0.0.1 (optionally with
 * htpasswd auth), and publish items taken from a real store the way `nbdforge publish` does.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { sha256File } from '../../src/util/hash.ts';
import type { PublishItem } from '../../src/publish/target.ts';
import { freePort } from '../../scripts/free-port.ts';

export { freePort };

export interface Registry {
  port: number;
  host: string;
  dir: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

export interface TokenAuth {
  realm: string;
  service: string;
  issuer: string;
  certFile: string;
}

export async function startRegistry(auth?: { user: string; password: string }, token?: TokenAuth): Promise<Registry> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-registry-'));
  const port = await freePort();
  let authBlock = '';
  if (auth) {
    const h = spawnSync('htpasswd', ['-Bbn', auth.user, auth.password], { encoding: 'utf8' });
    if (h.status !== 0) throw new Error(`htpasswd failed (apt-get install apache2-utils): ${h.stderr ?? h.error}`);
    await fs.writeFile(path.join(dir, 'htpasswd'), h.stdout);
    authBlock = `auth:\n  htpasswd:\n    realm: nbdforge-test\n    path: ${dir}/htpasswd\n`;
  }
  if (token) {
    authBlock = `auth:\n  token:\n    realm: ${token.realm}\n    service: ${token.service}\n    issuer: ${token.issuer}\n    rootcertbundle: ${token.certFile}\n`;
  }
  await fs.mkdir(path.join(dir, 'data'));
  const config = `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: 127.0.0.1:${port}\n${authBlock}`;
  await fs.writeFile(path.join(dir, 'config.yml'), config);
  const proc = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`docker-registry exited ${proc.exitCode}: ${stderr}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/v2/`);
      if (r.status === 200 || r.status === 401) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`docker-registry did not answer on 127.0.0.1:${port}: ${stderr}`);
    await sleep(100);
  }
  return {
    port,
    host: `127.0.0.1:${port}`,
    dir,
    proc,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** Items as `nbdforge publish` hands them to a target: verified against the manifest first. */
export async function itemsFrom(storeDir: string, releases?: string[]): Promise<PublishItem[]> {
  const store = new DirStore(storeDir);
  const out: PublishItem[] = [];
  for (const entry of await store.list({ module: 'nbd' })) {
    if (releases && !releases.includes(entry.kernelRelease)) continue;
    const manifest = await store.readManifest(entry);
    const modulePath = store.artifactPath(entry);
    if ((await sha256File(modulePath)) !== manifest.sha256) throw new Error(`${modulePath} does not match its manifest`);
    out.push({ entry, manifest, modulePath, manifestPath: store.artifactPath(entry, 'manifest.json') });
  }
  return out;
}
