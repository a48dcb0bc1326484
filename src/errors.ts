/**
 * The error base of nbdforge, a leaf (it imports nothing from src): every error class of nbdforge
 * extends NbdforgeError and carries the exit code of the CLI's contract, read in one place
 * (src/cli.ts). The contract (README "Exit codes and bad input"): 1 failed work (a build, a check,
 * a target), 2 the user's input, 3 refused with nothing touched. Anything else that reaches the
 * CLI (a plain Error, a JavaScript or a library's error) exits 1. test/unit/errors.test.ts holds
 * every class with its code.
 */

/** The three codes an error can end a command with (0 is success, never an error). */
export type ExitCode = 1 | 2 | 3;

export class NbdforgeError extends Error {
  override name = 'NbdforgeError';
  /** Failed work unless the class says otherwise. */
  readonly exitCode: ExitCode = 1;
}

/** A user error: printed as one line with no stack, exit code 2 (1 is for failed work). */
export class UsageError extends NbdforgeError {
  override name = 'UsageError';
  override readonly exitCode = 2;
}
