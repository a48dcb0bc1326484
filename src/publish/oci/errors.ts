/**
 * One error type for everything the registry side refuses or fails, with the registry named and
 * every credential scrubbed: these messages end up in terminals, CI logs and issue reports.
 */
import { NbdforgeError } from '../../errors.ts';

export class RegistryError extends NbdforgeError {
  override name = 'RegistryError';
  constructor(
    message: string,
    /** HTTP status when the registry answered; undefined when it could not be reached. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Remove secrets from any text: URL userinfo, Authorization values, token fields, and the known secrets. */
export function redact(text: string, secrets: Array<string | undefined> = []): string {
  let out = text
    .replace(/(\w+:\/\/)[^/@\s]+@/g, '$1***@')
    .replace(/(authorization["']?\s*[:=]\s*["']?)(basic|bearer)\s+[^\s"',}]+/gi, '$1$2 ***')
    .replace(/("(?:access_)?token"\s*:\s*")[^"]+/gi, '$1***');
  for (const s of secrets) if (s && s.length >= 3) out = out.split(s).join('***');
  return out;
}

/** An image that fails verification on pull: refused, and nothing was stored. */
export class ImageRefusedError extends RegistryError {
  override name = 'ImageRefusedError';
  /** The CLI contract: 3 = refused with nothing touched. */
  override readonly exitCode = 3;
}

/** A publish refused before anything was sent (registry unreachable or refusing, bad artifact): exit 3. */
export class TargetRefusedError extends RegistryError {
  override name = 'TargetRefusedError';
  override readonly exitCode = 3;
}
