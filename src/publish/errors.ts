/** A bad --to value or flag combination: exit 2, nothing looked at. */
import { NbdforgeError } from '../errors.ts';

export class TargetSpecError extends NbdforgeError {
  override name = 'TargetSpecError';
  override readonly exitCode = 2;
}

/**
 * Publishing refused before anything was sent or recorded: exit 3. Targets throw it from check()
 * (unwritable directory, missing gpg key, unreachable registry, wrong family) and the selection
 * throws it for a kernel the store does not hold or a module whose bytes no longer match.
 */
export class PublishRefusedError extends NbdforgeError {
  override name = 'PublishRefusedError';
  /** The CLI's contract: 3 = refused with nothing touched. */
  override readonly exitCode = 3;
}
