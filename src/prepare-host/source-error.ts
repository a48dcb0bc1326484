import type { IndexEntry } from '../artifacts/store-layout.ts';
import type { Manifest } from '../artifacts/manifest.ts';
import type { ProofRecord } from '../artifacts/proof-record.ts';
import { NbdforgeError } from '../errors.ts';

/** Where prepare-host reads artifacts: a directory store, or the same layout served over http(s). */
export interface ArtifactSource {
  /** Shown to the user: credentials redacted. */
  readonly location: string;
  list(): Promise<IndexEntry[]>;
  manifest(entry: IndexEntry): Promise<Manifest>;
  /** The module's bytes; `size` (from the verified manifest) caps what is read. */
  bytes(entry: IndexEntry, size: number): Promise<Uint8Array>;
  /**
   * The artifact's proof (proof.json, src/artifacts/proof-record.ts) when its manifest names one, its bytes
   * checked against the sha256 the manifest (and a published index) gives; undefined = unproven.
   * Throws ProofError for a proof that is missing, damaged or malformed.
   */
  proof(entry: IndexEntry, manifest: Manifest): Promise<ProofRecord | undefined>;
}

/** The source could not be read or is not a store: prepare-host refuses with nothing touched (exit 3). */
export class SourceError extends NbdforgeError {
  override name = 'SourceError';
  override readonly exitCode = 3;
  /** A directory that holds no store at all (resolveArtifact adds the build that makes one). */
  noStore?: boolean;
}

/**
 * How an index fetched over http(s) is trusted: the same chain install.sh checks. A local store is
 * the user's own directory and needs none of this.
 */
export interface TrustOptions {
  /** Primary key fingerprint index.json.sig must be made by (publish prints it; install.sh pins it). */
  fingerprint?: string;
  /** sha256 of the one index.json to accept. */
  indexSha256?: string;
  /** NBDFORGE_INSECURE_NO_SIGNATURE=1: take the index unverified (warned about). */
  insecureNoSignature?: boolean;
  /** Where the highest accepted serial per source is kept (serial-state.ts); default /var/lib/nbdforge. */
  stateDir?: string;
  now?: () => Date;
  warn?: (message: string) => void;
}

