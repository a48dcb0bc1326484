import { sha256 } from '../../util/hash.ts';

/** The distribution API's content address: "sha256:<hex>". */
export function digestOf(data: Uint8Array): string {
  return `sha256:${sha256(data)}`;
}
