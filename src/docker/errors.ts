export class EngineUnreachableError extends Error {
  override name = 'EngineUnreachableError';
}

/** A container ran and failed: carries its exit code and the tail of its output. */
export class ContainerError extends Error {
  override name = 'ContainerError';
  constructor(
    message: string,
    readonly exitCode: number,
    readonly logTail: string,
  ) {
    super(logTail ? `${message}\n--- last output ---\n${logTail}` : message);
  }
}
