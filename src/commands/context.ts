import { parseArgs, type ParseArgsConfig } from 'node:util';
import { resolvePaths, type Paths } from '../paths.ts';

/** Everything a command gets from the edge: parsed once here, never re-read deeper down. */
export interface CommandContext {
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  version: string;
}

export interface Command {
  summary: string;
  usage: string;
  run(argv: string[], ctx: CommandContext): Promise<number>;
}

/** A user error: printed as one line with no stack, exit code 2 (1 is for failed work). */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const commonOptions = {
  home: { type: 'string' },
  cache: { type: 'string' },
  store: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

export function parse<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options: { ...commonOptions, ...options }, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function pathsFrom(values: { home?: string; cache?: string; store?: string }, env: NodeJS.ProcessEnv): Paths {
  return resolvePaths(env, values);
}
