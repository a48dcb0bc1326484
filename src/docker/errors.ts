import { NbdforgeError } from '../errors.ts';

export class EngineUnreachableError extends NbdforgeError {
  override name = 'EngineUnreachableError';
}

/**
 * A container ran and failed: carries its exit status and the tail of its output. Failed work for
 * the CLI (exit 1), whatever status the container ended with.
 */
export class ContainerError extends NbdforgeError {
  override name = 'ContainerError';
  constructor(
    message: string,
    /** The container's own exit status. */
    readonly status: number,
    readonly logTail: string,
  ) {
    super(logTail ? `${message}\n--- last output ---\n${logTail}` : message);
  }
}
