/**
 * A Step is data: what to run, how to tell it is already done, how to take it back.
 * Commands are argv arrays; a step that needs a pipe or a test spells it as ['sh', '-c', script, 'sh', ...args]
 * so that its arguments still travel as separate words.
 */
export interface Step {
  /** Stable id: lower-case letters, digits, '.', '_', '-'. Appears in reports and in emitted scripts. */
  id: string;
  describe: string;
  command: string[];
  /** Exit 0 = already done: the command is not run. */
  probe?: string[];
  /** Run in reverse order for completed steps when a later step fails. */
  undo?: string[];
  /** Bytes fed to the command's stdin (a module being staged). Emitted scripts embed them as base64. */
  stdin?: Uint8Array;
  /** A check with no side effect: reported as "checked", never counted as a change. */
  readOnly?: boolean;
}

/** A condition checked before any step. Its output (stdout+stderr) is appended to the message. */
export interface Precondition {
  id: string;
  describe: string;
  /** Exit 0 = fine, go on. */
  check: string[];
  /** On a failed check: 'refuse' stops with an error; 'nothing-to-do' stops successfully. */
  otherwise: 'refuse' | 'nothing-to-do';
  message: string;
}

const ID = /^[a-z0-9][a-z0-9._-]*$/;

export function validateId(kind: string, id: string): void {
  if (!ID.test(id)) throw new Error(`${kind} id ${JSON.stringify(id)} must match ${ID}`);
}

export function validateArgv(where: string, argv: readonly string[] | undefined): void {
  if (argv === undefined) return;
  if (!Array.isArray(argv) || argv.length === 0 || argv.some((a) => typeof a !== 'string'))
    throw new Error(`${where}: a command must be a non-empty array of strings`);
}

/** `sh -c SCRIPT sh ARGS...`: a small shell program whose inputs are positional parameters, never spliced. */
export function shc(script: string, ...args: string[]): string[] {
  return ['sh', '-c', script, 'sh', ...args];
}
