import { parseArgs, type ParseArgsConfig } from 'node:util';
import { didYouMean } from '../util/suggest.ts';
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
    throw new UsageError(parserMessage(err as NodeJS.ErrnoException, Object.keys({ ...commonOptions, ...options })));
  }
}

/** node:util's parser messages, said plainly, with the option the user probably meant. */
export function parserMessage(err: NodeJS.ErrnoException, known: string[]): string {
  const m = err.message;
  const opt = /'(-{1,2}[^' <]+)/.exec(m)?.[1] ?? '';
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const bare = opt.replace(/^-+/, '').replace(/=.*$/, '');
      return `unknown option ${opt}${didYouMean(bare, known).replace(/(mean |, | or )(?=\w)/g, '$1--')}`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(m)) return `${opt} takes no value`;
      return `${opt} needs a value${/ambiguous/.test(m) ? ` (the next word starts with "-"; to pass such a value write ${opt}=VALUE)` : ''}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      const arg = /'([^']*)'/.exec(m)?.[1];
      return `unexpected argument ${JSON.stringify(arg ?? '')}: this command takes options only`;
    }
    default:
      return m;
  }
}

export function pathsFrom(values: { home?: string; cache?: string; store?: string }, env: NodeJS.ProcessEnv): Paths {
  return resolvePaths(env, values);
}
