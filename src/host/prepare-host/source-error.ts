import type { IndexEntry } from '../../artifacts/store-layout.ts';
import type { Manifest } from '../../artifacts/manifest.ts';

/** Where prepare-host reads artifacts: a directory store, or the same layout served over http(s). */
export interface ArtifactSource {
  /** Shown to the user: credentials redacted. */
  readonly location: string;
  list(): Promise<IndexEntry[]>;
  manifest(entry: IndexEntry): Promise<Manifest>;
  /** The module's bytes; `size` (from the verified manifest) caps what is read. */
  bytes(entry: IndexEntry, size: number): Promise<Uint8Array>;
}

/** The source could not be read or is not a store: prepare-host refuses with nothing touched (exit 3). */
export class SourceError extends Error {
  override name = 'SourceError';
  readonly exitCode = 3;
}
