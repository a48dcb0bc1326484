/**
 * Per kernel, what the store can say of its module: built (an artifact is indexed), verified (its
 * bytes re-hash to its manifest and every static check passed), proven (a proof.json that matches
 * it). For `kernels` and `matrix --list`; a store that cannot be read says nothing (all "-").
 */
import { DirStore } from '../artifacts/dir-store.ts';
import { proofLine, readStoredProof } from '../artifacts/proof-record.ts';

export interface ArtifactState {
  built: boolean;
  verified: boolean;
  proven: boolean;
  /** proofLine of the proof, or why the stored one was not taken. */
  proof?: string;
}

export const NOT_BUILT: ArtifactState = { built: false, verified: false, proven: false };

export async function storeStates(storeRoot: string, family: string, module = 'nbd'): Promise<Map<string, ArtifactState>> {
  const out = new Map<string, ArtifactState>();
  const store = new DirStore(storeRoot);
  const entries = await store.list({ family, module }).catch(() => []);
  for (const e of entries) {
    const verified = (await store.verify(e)).ok;
    let proven = false;
    let proof: string | undefined;
    try {
      const p = await readStoredProof(storeRoot, e);
      if (p) [proven, proof] = [true, proofLine(p.proof)];
    } catch (err) {
      proof = `proof refused: ${(err as Error).message.slice(0, 300)}`;
    }
    out.set(e.kernelRelease, { built: true, verified, proven: proven && verified, ...(proof ? { proof } : {}) });
  }
  return out;
}

/** `built verified proven`, `built verified -`, `- - -`: three columns of the text tables. */
export function stateColumns(s: ArtifactState): string {
  return `${(s.built ? 'built' : '-').padEnd(5)}  ${(s.verified ? 'verified' : '-').padEnd(8)}  ${s.proven ? 'proven' : '-'}`;
}
export const STATE_HEADER = `${'BUILT'.padEnd(5)}  ${'VERIFIED'.padEnd(8)}  PROVEN`;
