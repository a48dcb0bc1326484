/** A bad --to value or flag combination: exit 2, nothing looked at. */
export class TargetSpecError extends Error {
  override name = 'TargetSpecError';
}

/**
 * Publishing refused before anything was sent or recorded: exit 3. Targets throw it from check()
 * (unwritable directory, missing gpg key, unreachable registry, wrong family) and the selection
 * throws it for a kernel the store does not hold or a module whose bytes no longer match.
 */
export class PublishRefusedError extends Error {
  override name = 'PublishRefusedError';
  /** The CLI's contract: 3 = refused with nothing touched. */
  readonly exitCode = 3;
}
