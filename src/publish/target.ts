/**
 * The contract every publish target implements (yum, apt, oci, dir). `nbdforge publish` picks the
 * store's artifacts, verifies each against its manifest before anything is sent, asks the target
 * what it already holds, and hands it only the missing ones. Targets never build.
 */
import type { NetOptions } from '../fetch/index.ts';
import type { IndexEntry } from '../artifacts/dir-store.ts';
import type { Manifest } from '../artifacts/manifest.ts';
import type { Paths } from '../paths.ts';
import type { ProofRecord } from '../artifacts/proof-record.ts';

/** The artifact's proof (src/artifacts/proof-record.ts), read from the store and checked against the module: what every channel carries beside it. */
export interface ItemProof {
  record: ProofRecord;
  /** proof.json's exact bytes (the manifest names their sha256). */
  bytes: Buffer;
  sha256: string;
}

/** One verified artifact, ready to send: the module file's sha256 was checked against the manifest. */
export interface PublishItem {
  entry: IndexEntry;
  manifest: Manifest;
  /** Absolute path of the stored module (byte-identical to what every channel must carry). */
  modulePath: string;
  /** Absolute path of the artifact's manifest.json (attached as the proof where a channel can carry it). */
  manifestPath: string;
  /** Present when the artifact was proven in its own kernel; absent = unproven. */
  proof?: ItemProof;
}

/** What one target did with one item; recorded in the store's publish records. */
export interface PublishOutcome {
  key: string;
  kernelRelease: string;
  /** Where it landed: a digest (oci), a file path relative to the target (yum, apt, dir). */
  ref: string;
  bytesSent: number;
  /** sha256 of the file at `ref` as written (apt, yum): the next run re-hashes it before indexing it again. */
  refSha256?: string;
  /** Filled in by the publish run: whether a proof went out with it, and which (proofLabel). */
  proven?: boolean;
  proof?: string;
}

export interface PublishProgress {
  (event: { kernelRelease: string; stage: string; bytes?: number }): void;
}

export interface PublishTarget {
  /** The spec as the user wrote it, credentials redacted (e.g. "oci://127.0.0.1:5000/nbd"). */
  readonly spec: string;
  /** "yum" | "apt" | "oci" | "dir" */
  readonly kind: string;
  /** Refuse before any work (unwritable dir, unreachable registry, missing gpg key, wrong family). */
  check(items: PublishItem[]): Promise<void>;
  /** Publish the given items (already filtered to the missing ones) and finish the target's index/metadata. */
  publish(items: PublishItem[], progress: PublishProgress): Promise<PublishOutcome[]>;
  /**
   * Optional: the keys of `items` the target still holds, read cheaply from the target itself (the
   * dir target reads its index.json). An item recorded as published but no longer held is sent again;
   * without this method the publish records alone decide.
   */
  holds?(items: PublishItem[]): Promise<Set<string>>;
  /** Optional: lines for the user after a publish (how hosts use the target, the key to pin). */
  notes?(): string[];
}

/** Read once at the edge (`nbdforge publish` flags and env) and handed to every target's factory. */
export interface TargetOptions {
  /** Family of the artifacts being published: each family declares its package channel (yum or apt). */
  family: string;
  /** --gpg-key KEYID: sign packages / repository metadata / the dir index with this key. */
  gpgKey?: string;
  /** --insecure: allow plain http to a registry that is not on a loopback address. */
  insecure?: boolean;
  /** --url URL: where the published tree will be served (dir: the default source baked into install.sh). */
  baseUrl?: string;
  /** --unsigned: the user chose to publish without a key (never implied by a missing --gpg-key; apt: only then does the sources file say Trusted: yes). */
  unsigned?: boolean;
  /** --prune-foreign: move what nbdforge did not write aside (inside the target) instead of refusing. */
  pruneForeign?: boolean;
  /** --valid-for DAYS: how long a signed index is good for (dir: index expiry; apt: Valid-Until). */
  validForDays?: number;
  env: NodeJS.ProcessEnv;
  paths: Paths;
  signal?: AbortSignal;
  /** The clock (tests). */
  now?: () => Date;
  /** Bounds and the waiting line of every network transfer (registries): the fetch door's. */
  net?: NetOptions;
}

/**
 * Each target lives in src/publish/<kind>/index.ts and exports
 *   `export function createTarget(spec: string, opts: TargetOptions): PublishTarget`
 * where spec is the part after "<kind>:" (a path) or the whole "oci://..." URL.
 * src/publish/targets.ts maps a `--to` value to the right module (lazy import).
 */
export type CreateTarget = (spec: string, opts: TargetOptions) => PublishTarget;
