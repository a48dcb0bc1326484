/**
 * The prove cache: every verdict reached, by proof key (module sha256 + kernel package sha256 +
 * proof version). A proven record is a cache hit for any store holding those module bytes for that
 * kernel (no boot); a failed one is kept beside for inspection and is never a hit (a re-run proves
 * again). Records read back are untrusted: validated and checked against the artifact.
 */
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic.ts';
import { readRegular } from '../util/read-regular.ts';
import { checkProofFor, parseProof, type ProofRecord } from '../artifacts/proof-record.ts';

const HEX64 = /^[0-9a-f]{64}$/;
const recordFile = (cacheDir: string, key: string, failed: boolean) => {
  if (!HEX64.test(key)) throw new Error(`not a proof key: ${key.slice(0, 80)}`);
  return path.join(cacheDir, 'records', `${key}${failed ? '.failed' : ''}.json`);
};

export async function rememberProof(cacheDir: string, p: ProofRecord): Promise<string> {
  const file = recordFile(cacheDir, p.key, p.verdict !== 'proven');
  await writeFileAtomic(file, JSON.stringify(p, null, 2) + '\n');
  return file;
}

/** The proven record of this key for this artifact, or undefined (none, damaged, or not this artifact's). */
export async function cachedProof(cacheDir: string, key: string, artifact: { kernelRelease: string; sha256: string }): Promise<ProofRecord | undefined> {
  const file = recordFile(cacheDir, key, false);
  try {
    const p = parseProof((await readRegular(file, { maxBytes: 256 << 10 })).toString('utf8'), file);
    checkProofFor(p, artifact, file);
    return p.key === key ? p : undefined;
  } catch {
    return undefined;
  }
}
