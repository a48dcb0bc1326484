import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runTool, ToolError } from '../doors/exec.ts';
import { keyFileFingerprints, normalizeFingerprint, SignatureError } from '../doors/gpg.ts';

async function rpmkeys(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await runTool('rpmkeys', args, { maxBuffer: 4 * 1024 * 1024 });
    return { code: r.code, out: `${r.stdout}${r.stderr}` };
  } catch (err) {
    if (err instanceof ToolError) throw new SignatureError(err.message, { cause: err });
    throw err;
  }
}

/**
 * Check an RPM's own OpenPGP signature (the second link of the chain, independent of repodata):
 * rpmkeys with a private rpmdb holding only the configured key. Every signature and digest line
 * must say OK, and at least one must be a signature by that key. Returns the short key id seen.
 */
export async function verifyRpmSignature(o: { file: string; keyFile: string; fingerprint: string }): Promise<string> {
  const want = normalizeFingerprint(o.fingerprint);
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-rpmdb-'));
  try {
    const fprs = await keyFileFingerprints(o.keyFile, home);
    if (fprs.length !== 1 || fprs[0] !== want) throw new SignatureError(`${o.keyFile}: holds key ${fprs.join(', ') || '(none)'}, expected exactly ${want}`);
    const imp = await rpmkeys(['--dbpath', home, '--import', o.keyFile]);
    if (imp.code !== 0) throw new SignatureError(`${o.keyFile}: rpmkeys --import failed: ${imp.out.trim()}`);
    const r = await rpmkeys(['--dbpath', home, '--checksig', '-v', o.file]);
    const lines = r.out.split('\n').map((l) => l.trim()).filter((l) => /:\s*\S+$/.test(l) && !l.endsWith(`${o.file}:`));
    const shortId = want.slice(-8).toLowerCase();
    const signed = lines.some((l) => new RegExp(`Signature, key ID ${shortId}: OK$`).test(l));
    const bad = lines.filter((l) => !/: OK$/.test(l));
    if (r.code !== 0 || bad.length || !signed) {
      const why = bad.length ? bad.join('; ') : signed ? `rpmkeys exit ${r.code}` : `no signature by key ${shortId}`;
      throw new SignatureError(`${o.file}: RPM signature refused (${why})`);
    }
    return shortId;
  } finally {
    await fs.rm(home, { recursive: true, force: true });
  }
}
