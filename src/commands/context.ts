import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { didYouMean } from '../util/suggest.ts';
import { resolvePaths, type Paths } from '../paths.ts';
import { UsageError } from '../errors.ts';

export { UsageError };

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

/**
 * The state locations, checked before any work: a --home, --cache or --store (or its variable) that
 * names a file, or sits below one, is a usage error naming where it came from; with `write`, those
 * locations must be writable too (a read-only file system is found now, not after a download).
 */
export function pathsFrom(values: { home?: string; cache?: string; store?: string }, env: NodeJS.ProcessEnv, opts: { write?: Array<'cache' | 'store'> } = {}): Paths {
  const paths = resolvePaths(env, values);
  const origin = (k: 'home' | 'cache' | 'store') =>
    values[k] !== undefined ? `--${k}` : env[`NBDFORGE_${k.toUpperCase()}`] !== undefined ? `NBDFORGE_${k.toUpperCase()}` : `the default ${k}`;
  for (const k of ['home', 'cache', 'store'] as const) {
    const problem = locationProblem(paths[k], (opts.write ?? []).includes(k as 'cache' | 'store'));
    if (problem) throw new UsageError(`${origin(k)} ${paths[k]} ${problem}`);
  }
  return paths;
}

/** Why a directory cannot be used (to write in, with `write`), or undefined: the path or its nearest existing parent decides. */
export function locationProblem(dir: string, write: boolean): string | undefined {
  let p = dir;
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') return `is below a file (${nearestFile(dir)}): give a directory`;
      if (code === 'EACCES') return `cannot be reached (permission denied at ${p})`;
      if (code !== 'ENOENT') return `cannot be used: ${code}`;
    }
    if (st) {
      if (!st.isDirectory()) return p === dir ? 'is a file, not a directory: give a directory (nbdforge creates it when missing)' : `is below a file (${p}): give a directory`;
      if (write) {
        try {
          fs.accessSync(p, fs.constants.W_OK);
        } catch {
          return p === dir ? 'is not writable: give a directory you can write' : `cannot be created: ${p} is not writable`;
        }
      }
      return undefined;
    }
    const up = path.dirname(p);
    if (up === p) return undefined;
    p = up;
  }
}

function nearestFile(dir: string): string {
  for (let p = dir; p !== path.dirname(p); p = path.dirname(p)) {
    try {
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* keep going up */
    }
  }
  return dir;
}
